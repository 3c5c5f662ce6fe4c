import pytest
import torch

from reidkit.evaluation import ReIDMetric


def samples(feats, pids, camids, is_query, flip=False):
    return [dict(pred_feature=torch.tensor(f, dtype=torch.float32),
                 gt_pid=p, camid=c, is_query=q, flip_test=flip)
            for f, p, c, q in zip(feats, pids, camids, is_query)]


# One query (pid 1, cam 0). Gallery, by cosine similarity to the query:
# g0 pid 1 cam 0 (same camera: removed), g1 pid 2 (closest valid),
# g2 pid 1 cam 1 (true match, rank 2), g3 pid 3.
FEATS = [[1, 0], [1, 0.01], [1, 0.2], [1, 0.5], [0, 1]]
PIDS = [1, 1, 2, 1, 3]
CAMS = [0, 0, 1, 1, 1]
IS_QUERY = [True, False, False, False, False]


def run(metric, data):
    metric.process(None, data)
    return metric.compute_metrics(metric.results)


def test_standard_protocol_values():
    metric = ReIDMetric(ranks=(1, 2), max_rank=3)
    res = run(metric, samples(FEATS, PIDS, CAMS, IS_QUERY))
    # AP = precision at the single match (rank 2) = 1/2; INP = 1/2
    assert res == pytest.approx(
        {'mAP': 50.0, 'rank1': 0.0, 'rank2': 100.0, 'mINP': 50.0})
    assert metric.last_results['protocol'] == 'standard'
    assert metric.last_results['cmc'] == pytest.approx([0, 100, 100])


def test_protocol_is_named_in_keys():
    flip = ReIDMetric(ranks=(1, ), max_rank=3)
    res = run(flip, samples(FEATS, PIDS, CAMS, IS_QUERY, flip=True))
    assert set(res) == {'mAP_flip', 'rank1_flip', 'mINP_flip'}
    rr = ReIDMetric(ranks=(1, ), max_rank=3, rerank=dict(k1=2, k2=1))
    res = run(rr, samples(FEATS, PIDS, CAMS, IS_QUERY))
    assert set(res) == {'mAP_rerank', 'rank1_rerank', 'mINP_rerank'}
    assert 'k1=2' in rr.last_results['protocol']


def test_no_camera_ids_keeps_same_camera_matches():
    metric = ReIDMetric(ranks=(1, ), max_rank=3)
    res = run(metric, samples(FEATS, PIDS, [-1] * 5, IS_QUERY))
    # g0 (same pid, formerly removed) is now the top match: AP = (1 + 2/3)/2
    assert res['mAP_samecam'] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert res['rank1_samecam'] == 100.0


def test_errors():
    metric = ReIDMetric()
    with pytest.raises(ValueError, match='is_query marks'):
        run(metric, samples(FEATS[1:], PIDS[1:], CAMS[1:], IS_QUERY[1:]))
    bad = samples(FEATS, PIDS, CAMS, IS_QUERY)
    bad[2]['pred_feature'] = torch.tensor([float('nan'), 0.0])
    with pytest.raises(ValueError, match='NaN or inf'):
        run(ReIDMetric(), bad)
    with pytest.raises(ValueError, match='ranks must be in'):
        ReIDMetric(ranks=(1, 60))
