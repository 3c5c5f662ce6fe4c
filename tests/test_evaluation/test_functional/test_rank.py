"""Tests for :func:`reidkit.evaluation.functional.evaluate_rank`."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from reidkit.evaluation import evaluate_rank
from reidkit.evaluation.functional import rank as rank_mod


@pytest.fixture(params=['sparse', 'dense'])
def path(request, monkeypatch):
    """Run a test through both ways of counting (see ``_evaluate_chunk``)."""
    monkeypatch.setattr(rank_mod, '_SPARSE_MAX_FRACTION',
                        1.0 if request.param == 'sparse' else 0.0)
    return request.param


def _one_query(dist, g_pids, g_cams, q_pid=1, q_cam=0, **kwargs):
    return evaluate_rank(
        np.asarray([dist], dtype=np.float32), np.array([q_pid]),
        np.asarray(g_pids), np.array([q_cam]), np.asarray(g_cams), **kwargs)


def reference_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank):
    """Per-query loops: sklearn AP, pessimistic first-match rank, INP."""
    aps, inps, firsts = [], [], []
    for i in range(distmat.shape[0]):
        valid = [
            q_cams is None
            or not (g_pids[j] == q_pids[i] and g_cams[j] == q_cams[i])
            for j in range(len(g_pids))
        ]
        dist = distmat[i][np.array(valid, dtype=bool)]
        match = (g_pids == q_pids[i])[np.array(valid, dtype=bool)]
        if not match.any():
            continue
        aps.append(average_precision_score(match, -dist))
        d_first = min(dist[j] for j in range(len(dist)) if match[j])
        d_hard = max(dist[j] for j in range(len(dist)) if match[j])
        n_neg_before = sum(1 for j in range(len(dist))
                           if not match[j] and dist[j] <= d_first)
        firsts.append(n_neg_before + 1)
        r_hard = sum(1 for j in range(len(dist)) if dist[j] <= d_hard)
        inps.append(match.sum() / r_hard)
    cmc = np.array(
        [np.mean([f <= k + 1 for f in firsts]) for k in range(max_rank)])
    return np.mean(aps), np.mean(inps), cmc, len(aps)


def test_single_query_by_hand(path):
    # gallery in shuffled order; sorted by distance the pids read
    #   d:   0.1  0.2  0.3  0.4  0.5  0.6
    #   pid:  7    1    1    5    1    9       -> matches at ranks 2, 3, 5
    # AP  = (1/2 + 2/3 + 3/5) / 3 = 0.5888...
    # CMC = first match at rank 2 -> [0, 1, 1, 1, 1]
    # INP = n_rel / rank of the last match = 3 / 5 = 0.6
    dist = [0.5, 0.1, 0.6, 0.3, 0.2, 0.4]
    pids = [1, 7, 9, 1, 1, 5]
    cams = [1, 2, 3, 4, 5, 1]
    res = _one_query(dist, pids, cams, max_rank=5)
    assert res['mAP'] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    assert res['mINP'] == pytest.approx(0.6)
    np.testing.assert_allclose(res['cmc'], [0, 1, 1, 1, 1])
    assert res['cmc'].shape == (5, ) and res['cmc'].dtype == np.float64
    assert res['num_valid_queries'] == 1
    assert res['num_skipped_queries'] == 0
    assert isinstance(res['mAP'], float) and isinstance(res['mINP'], float)
    assert isinstance(res['num_valid_queries'], int)
    # the curve keeps length max_rank even though G = 6 < 10
    res = _one_query(dist, pids, cams, max_rank=10)
    np.testing.assert_allclose(res['cmc'], [0] + [1] * 9)


def test_same_pid_same_camera_is_junk(path):
    # query pid 1, camera 0. Gallery:
    #   d=0.00 pid 1 cam 0  -> junk (would be a perfect rank-1 match)
    #   d=0.05 pid 1 cam 0  -> junk
    #   d=0.10 pid 2 cam 1  -> negative
    #   d=0.20 pid 1 cam 2  -> the only true match
    #   d=0.30 pid 3 cam 0  -> negative (same camera, other person: kept)
    # valid ranking: neg, POS, neg -> AP = 1/2, first match rank 2,
    # INP = 1/2
    dist = [0.0, 0.05, 0.1, 0.2, 0.3]
    pids = [1, 1, 2, 1, 3]
    cams = [0, 0, 1, 2, 0]
    res = _one_query(dist, pids, cams, max_rank=3)
    assert res['mAP'] == pytest.approx(0.5)
    assert res['mINP'] == pytest.approx(0.5)
    np.testing.assert_allclose(res['cmc'], [0, 1, 1])


def test_no_camids_keeps_same_camera_matches(path):
    # same data as above without camera ids: every pid-1 image matches.
    # ranking: POS POS neg POS neg -> AP = (1/1 + 2/2 + 3/4) / 3,
    # first match rank 1, INP = 3/4
    dist = np.array([[0.0, 0.05, 0.1, 0.2, 0.3]], dtype=np.float32)
    res = evaluate_rank(
        dist, np.array([1]), np.array([1, 1, 2, 1, 3]), None, None, max_rank=3)
    assert res['mAP'] == pytest.approx(2.75 / 3)
    assert res['mINP'] == pytest.approx(0.75)
    np.testing.assert_allclose(res['cmc'], [1, 1, 1])


def test_query_without_match_is_skipped(path):
    # query 0 (pid 1, cam 0): its only pid-1 gallery image is in cam 0 ->
    # junk, so no true match remains and it is skipped.
    # query 1 (pid 2, cam 0): ranking neg(d=.1) POS(d=.2) -> AP 1/2.
    # query 2 (pid 4): no pid-4 image at all -> skipped.
    distmat = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]],
                       dtype=np.float32)
    res = evaluate_rank(
        distmat,
        np.array([1, 2, 4]),
        np.array([3, 2, 1]),
        np.array([0, 0, 0]),
        np.array([1, 1, 0]),
        max_rank=3)
    assert res['num_valid_queries'] == 1
    assert res['num_skipped_queries'] == 2
    assert res['mAP'] == pytest.approx(0.5)
    np.testing.assert_allclose(res['cmc'], [0, 1, 1])


def test_ties_follow_sklearn(path):
    # d:     0.1  0.2  0.2  0.3
    # match:  0    1    0    1
    # sklearn: the tie group {0.2, 0.2} is one threshold, so the first
    # match is scored at the end of the group: precision 1/3 (not 1/2).
    # AP = (1/3 + 2/4) / 2 = 0.41666..., a naive stable sort gives 0.5.
    dist = [0.1, 0.2, 0.2, 0.3]
    pids = [5, 1, 6, 1]
    cams = [1, 1, 1, 1]
    match = np.array(pids) == 1
    sk = average_precision_score(match, -np.array(dist))
    assert sk == pytest.approx(5 / 12)
    naive_order = np.argsort(dist, kind='stable')
    hits = np.cumsum(match[naive_order])
    naive = np.mean((hits / np.arange(1, 5))[match[naive_order]])
    assert naive == pytest.approx(0.5)
    res = _one_query(dist, pids, cams, max_rank=4)
    assert res['mAP'] == pytest.approx(sk, abs=1e-12)
    # pessimistic CMC: 2 negatives at d <= 0.2 -> first match rank 3
    np.testing.assert_allclose(res['cmc'], [0, 0, 1, 1])
    # INP: hardest match at 0.3 -> 2 / 4
    assert res['mINP'] == pytest.approx(0.5)
    # the result does not depend on the order of tied gallery items
    res2 = _one_query(dist[::-1], pids[::-1], cams, max_rank=4)
    assert res2['mAP'] == res['mAP']
    np.testing.assert_array_equal(res2['cmc'], res['cmc'])


def test_signed_zero_ties(path):
    # -0.0 and +0.0 are equal distances: one tie group {d=0}, containing
    # one match and one non-match, then a match at 0.5.
    # AP = (1/2 + 2/3) / 2; first match rank 2 (pessimistic); INP 2/3.
    dist = [0.0, -0.0, 0.5]
    pids = [3, 1, 1]
    res = _one_query(dist, pids, [1, 1, 1], max_rank=3)
    sk = average_precision_score(np.array(pids) == 1, -np.array(dist))
    assert res['mAP'] == pytest.approx(sk, abs=1e-12)
    assert res['mAP'] == pytest.approx((1 / 2 + 2 / 3) / 2)
    np.testing.assert_allclose(res['cmc'], [0, 1, 1])
    assert res['mINP'] == pytest.approx(2 / 3)


def test_all_equal_distances_are_not_rank1(path):
    # collapsed model: 10 gallery items all at d = 1, 2 true matches.
    # sklearn AP: one threshold with precision 2/10 -> 0.2.
    # pessimistic first-match rank = 8 negatives + 1 = 9:
    #   cmc[0..7] = 0, cmc[8..] = 1.  INP = 2/10.
    pids = [1, 2, 3, 4, 1, 5, 6, 7, 8, 9]
    res = _one_query([1.0] * 10, pids, [1] * 10, max_rank=10)
    assert res['mAP'] == pytest.approx(0.2)
    assert res['mINP'] == pytest.approx(0.2)
    np.testing.assert_allclose(res['cmc'], [0] * 8 + [1, 1])


def test_distractors_are_negatives(path):
    # pid 0 = distractor (never a query id). Valid ranking:
    # distractor(0.05), distractor(0.1), POS(0.2) -> AP = 1/3, rank 3,
    # INP = 1/3
    dist = [0.1, 0.2, 0.05]
    pids = [0, 1, 0]
    cams = [1, 1, 0]
    res = _one_query(dist, pids, cams, max_rank=3)
    assert res['mAP'] == pytest.approx(1 / 3)
    assert res['mINP'] == pytest.approx(1 / 3)
    np.testing.assert_allclose(res['cmc'], [0, 0, 1])


@pytest.mark.parametrize('seed', range(8))
def test_random_against_reference(seed, path):
    rng = np.random.default_rng(seed)
    num_q, num_g = int(rng.integers(5, 40)), int(rng.integers(20, 200))
    num_ids = int(rng.integers(2, 12))
    q_pids = rng.integers(1, num_ids + 1, num_q)
    g_pids = rng.integers(0, num_ids + 1, num_g)  # 0: distractors
    q_cams = rng.integers(0, 4, num_q)
    g_cams = rng.integers(0, 4, num_g)
    distmat = rng.random((num_q, num_g)).astype(np.float32)
    if seed % 2:  # many ties
        distmat = np.round(distmat * 8) / 8
    if seed % 3 == 0:
        distmat = distmat.astype(np.float64)
    if seed % 2 == 0:  # negative "distances" (e.g. negated similarities)
        distmat = distmat - distmat.dtype.type(0.5)
    use_cams = seed != 5
    qc, gc = (q_cams, g_cams) if use_cams else (None, None)
    max_rank = 10
    ref_map, ref_inp, ref_cmc, ref_valid = reference_rank(
        distmat, q_pids, g_pids, qc, gc, max_rank)
    for chunk_size in (None, 1, 7):
        res = evaluate_rank(
            distmat,
            q_pids,
            g_pids,
            qc,
            gc,
            max_rank=max_rank,
            chunk_size=chunk_size)
        assert res['mAP'] == pytest.approx(ref_map, abs=1e-6)
        assert res['mINP'] == pytest.approx(ref_inp, abs=1e-6)
        np.testing.assert_allclose(res['cmc'], ref_cmc, atol=1e-6)
        assert res['num_valid_queries'] == ref_valid
        assert res['num_skipped_queries'] == num_q - ref_valid
    # torch inputs give the same result
    res_t = evaluate_rank(
        torch.from_numpy(distmat),
        torch.from_numpy(q_pids),
        torch.from_numpy(g_pids),
        None if qc is None else torch.from_numpy(qc),
        None if gc is None else torch.from_numpy(gc),
        max_rank=max_rank)
    assert res_t['mAP'] == pytest.approx(ref_map, abs=1e-6)
    np.testing.assert_allclose(res_t['cmc'], ref_cmc, atol=1e-6)


def test_other_dtypes():
    dist = np.array([[3, 1, 2, 1]])
    args = (np.array([1]), np.array([1, 2, 1,
                                     3]), np.array([0]), np.array([1, 1, 1,
                                                                   1]))
    ref = evaluate_rank(dist.astype(np.float64), *args, max_rank=4)
    for dtype in (np.int64, np.float16):
        res = evaluate_rank(dist.astype(dtype), *args, max_rank=4)
        assert res['mAP'] == pytest.approx(ref['mAP'])
        np.testing.assert_array_equal(res['cmc'], ref['cmc'])
    res = evaluate_rank(
        torch.tensor(dist, dtype=torch.bfloat16), *args, max_rank=4)
    assert res['mAP'] == pytest.approx(ref['mAP'])


def test_errors():
    dist = np.random.rand(2, 3).astype(np.float32)
    q_pids, g_pids = np.array([1, 2]), np.array([1, 2, 3])
    q_cams, g_cams = np.array([0, 0]), np.array([1, 1, 1])
    with pytest.raises(ValueError, match='q_pids has 3 entries'):
        evaluate_rank(dist, np.array([1, 2, 3]), g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match='g_camids has 2 entries'):
        evaluate_rank(dist, q_pids, g_pids, q_cams, np.array([1, 1]))
    with pytest.raises(ValueError, match='both be given or both be None'):
        evaluate_rank(dist, q_pids, g_pids, q_cams, None)
    with pytest.raises(ValueError, match='2-D'):
        evaluate_rank(dist[0], q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match='empty'):
        evaluate_rank(np.zeros((0, 3)), q_pids[:0], g_pids, q_cams[:0], g_cams)
    for bad_value in (np.nan, np.inf):
        bad = dist.copy()
        bad[1, 2] = bad_value
        with pytest.raises(
                ValueError, match=r'non-finite.*|query 1, gallery 2'):
            evaluate_rank(bad, q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match='model produced non-finite'):
        evaluate_rank(bad, q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(TypeError, match='integers'):
        evaluate_rank(dist, q_pids.astype(float), g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match='max_rank'):
        evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=0)
    # every true match is in the query's own camera -> all skipped
    with pytest.raises(
            ValueError,
            match='all 2 queries were skipped.*'
            'another camera.*camids=None'):
        evaluate_rank(dist, q_pids, g_pids, q_cams, np.array([0, 0, 0]))
    with pytest.raises(ValueError, match='all 2 queries were skipped'):
        evaluate_rank(dist, np.array([7, 8]), g_pids, None, None)


def test_masked_average_precision_equals_evaluate_rank():
    """average_precision with the protocol's masks gives evaluate_rank's
    per-query APs: their mean over scored queries is its mAP (ties
    included); a query without a valid true match gets NaN."""
    from reidkit.evaluation import average_precision
    rng = np.random.default_rng(3)
    dist = rng.integers(0, 6, size=(9, 30)).astype(np.float64)  # many ties
    q_pids, g_pids = rng.integers(0, 4, 9), rng.integers(0, 4, 30)
    q_cams, g_cams = rng.integers(0, 2, 9), rng.integers(0, 2, 30)
    q_pids[0] = 99  # no true match at all
    matches = q_pids[:, None] == g_pids[None]
    valid = ~(matches & (q_cams[:, None] == g_cams[None]))
    ap = average_precision(dist, matches, valid)
    res = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=30)
    assert np.isnan(ap[0])
    assert np.nanmean(ap) == pytest.approx(res['mAP'], abs=1e-12)
    assert (~np.isnan(ap)).sum() == res['num_valid_queries']
