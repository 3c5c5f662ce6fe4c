"""ReIDMetric(save_file=...): the dumped distances, ids, paths, features."""
import json

import numpy as np
import pytest
import torch

from reidkit.evaluation import ReIDMetric, evaluate_rank, re_ranking

rng = np.random.default_rng(0)
FEATS = rng.normal(size=(12, 8)).astype(np.float32)
PIDS = [1, 2, 3, 1, 1, 2, 2, 3, 3, 4, 0, 0]
CAMS = [0, 1, 2, 1, 0, 0, 2, 0, 1, 1, 2, 0]
IS_QUERY = [True] * 3 + [False] * 9


def samples(cams=CAMS, paths=True):
    out = []
    for i, (f, p, c, q) in enumerate(zip(FEATS, PIDS, cams, IS_QUERY)):
        s = dict(pred_feature=torch.from_numpy(f), gt_pid=p, camid=c,
                 is_query=q)
        if paths:
            s['img_path'] = f'/data/{"query" if q else "gallery"}/{i}.jpg'
        out.append(s)
    return out


def run(metric, data):
    metric.process(None, data)
    return metric.compute_metrics(metric.results)


def sq_dist(x, y):
    return ((x[:, None, :] - y[None, :, :])**2).sum(-1)


def test_dump_contents(tmp_path):
    out = tmp_path / 'sub' / 'dump.npz'
    metric = ReIDMetric(ranks=(1, ), max_rank=5, save_file=str(out))
    metrics = run(metric, samples())
    with np.load(out, allow_pickle=False) as npz:
        d = dict(npz)
    assert d['distmat'].dtype == np.float32 and d['distmat'].shape == (3, 9)
    assert d['query_feats'].dtype == np.float32
    qf, gf = d['query_feats'], d['gallery_feats']
    assert np.allclose(np.linalg.norm(qf, axis=1), 1, atol=1e-6)
    norm = FEATS / np.linalg.norm(FEATS, axis=1, keepdims=True)
    assert np.allclose(qf, norm[:3], atol=1e-6)
    assert np.allclose(gf, norm[3:], atol=1e-6)
    assert np.allclose(d['distmat'], sq_dist(qf, gf), atol=1e-5)
    assert d['query_img_paths'].tolist() == [f'/data/query/{i}.jpg'
                                             for i in range(3)]
    assert d['gallery_img_paths'][0] == '/data/gallery/3.jpg'
    assert d['q_pids'].tolist() == PIDS[:3]
    assert d['g_camids'].tolist() == CAMS[3:]
    assert str(d['protocol']) == 'standard' and bool(d['normalized'])
    assert json.loads(str(d['metrics_json'])) == pytest.approx(metrics)
    # the dump reproduces the reported mAP
    ref = evaluate_rank(d['distmat'], d['q_pids'], d['g_pids'],
                        d['q_camids'], d['g_camids'])
    assert 100 * ref['mAP'] == pytest.approx(metrics['mAP'], abs=1e-4)


def test_dump_after_rerank_and_without_paths(tmp_path):
    out = tmp_path / 'rr.npz'
    metric = ReIDMetric(ranks=(1, ), max_rank=5, save_file=str(out),
                        rerank=dict(k1=3, k2=1))
    run(metric, samples(paths=False))
    with np.load(out, allow_pickle=False) as npz:
        d = dict(npz)
    qf, gf = d['query_feats'], d['gallery_feats']
    expected = re_ranking(sq_dist(qf, gf), sq_dist(qf, qf), sq_dist(gf, gf),
                          k1=3, k2=1, lambda_value=0.3)
    assert np.allclose(d['distmat'], expected, atol=1e-4)
    assert str(d['protocol']).startswith('rerank(k1=3')
    assert d['query_img_paths'].tolist() == ['', '', '']


def test_dump_overwrites_and_needs_npz(tmp_path):
    out = tmp_path / 'dump.npz'
    out.write_bytes(b'old')
    run(ReIDMetric(max_rank=5, ranks=(1, ), save_file=str(out)), samples())
    assert np.load(out)['distmat'].shape == (3, 9)
    with pytest.raises(ValueError, match='.npz'):
        ReIDMetric(save_file=str(tmp_path / 'dump.pkl'))
