"""Tests for :func:`reidkit.clustering.compute_jaccard_distance`."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from mmengine.logging import MMLogger
from sklearn.cluster import DBSCAN

from reidkit.clustering import compute_jaccard_distance, knn_search


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def dense_jaccard(feats, k1=30, k2=6, variant='faiss', rank=None):
    """Straightforward dense version, written like the research code.

    N x N arrays and per-image loops (``faiss_rerank.py`` of Cluster
    Contrast for ``variant='faiss'``, MMT's ``compute_jaccard_dist`` for
    ``'mmt'``). ``initial_rank`` comes from :func:`knn_search` so that both
    implementations see the same neighbour lists (``knn_search`` itself is
    checked against a brute-force argsort in ``test_knn.py``).
    """
    f = _unit(feats)
    n = len(f)
    ft = torch.from_numpy(f)
    if rank is None:
        k_rank = k1 if variant == 'faiss' else max(k1 + 1, k2)
        rank = knn_search(f, k_rank)[1]
    if variant == 'mmt':
        orig = 2 * (ft**2).sum(1, keepdim=True) - 2 * ft @ ft.t()
        orig = (orig / orig.max(0)[0]).t().numpy()

    def k_reciprocal_neigh(i, k):
        forward = rank[i, :k + 1]
        backward = rank[forward, :k + 1]
        return forward[np.where(backward == i)[0]]

    nn_k1 = [k_reciprocal_neigh(i, k1) for i in range(n)]
    nn_half = [k_reciprocal_neigh(i, int(np.around(k1 / 2))) for i in range(n)]
    V = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        expansion = nn_k1[i]
        for c in nn_k1[i]:
            if len(np.intersect1d(nn_half[c],
                                  nn_k1[i])) > 2 / 3 * len(nn_half[c]):
                expansion = np.append(expansion, nn_half[c])
        expansion = np.unique(expansion)
        if variant == 'faiss':
            dist = 2 - 2 * ft[i:i + 1] @ ft[expansion].t()
            V[i, expansion] = torch.softmax(-dist, dim=1).view(-1).numpy()
        else:
            weight = np.exp(-orig[i, expansion])
            V[i, expansion] = weight / weight.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(0) for i in range(n)])
    inv_index = [np.where(V[:, k] != 0)[0] for k in range(n)]
    jaccard = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        temp_min = np.zeros(n, dtype=np.float32)
        for k in np.where(V[i] != 0)[0]:
            temp_min[inv_index[k]] += np.minimum(V[i, k], V[inv_index[k], k])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    jaccard[jaccard < 0] = 0
    return jaccard


def _stored(mat):
    """Boolean N x N mask of the stored entries."""
    mask = np.zeros(mat.shape, dtype=bool)
    rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    mask[rows, mat.indices] = True
    return mask


def _densify(mat, missing=1.0):
    out = np.full(mat.shape, missing, dtype=np.float32)
    mask = _stored(mat)
    out[mask] = mat.toarray()[mask]
    return out


def _check_format(mat, n):
    assert isinstance(mat, sp.csr_matrix)
    assert mat.shape == (n, n)
    assert mat.dtype == np.float32
    assert mat.has_sorted_indices
    # diagonal stored as explicit zeros
    assert _stored(mat)[np.arange(n), np.arange(n)].all()
    assert (mat.diagonal() == 0).all()
    # symmetric, same pattern
    assert (_stored(mat) == _stored(mat).T).all()
    assert abs(mat - mat.T).max() == 0


def _blobs(n_ids=12, per_id=10, dim=16, noise=0.9, n_noise=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    feats = np.repeat(centres, per_id, 0) + noise * rng.standard_normal(
        (n_ids * per_id, dim))
    feats = np.concatenate([feats, 1.5 * rng.standard_normal((n_noise, dim))])
    return feats.astype(np.float32)


def _random():
    return np.random.default_rng(1).standard_normal((150, 12))


def _duplicates():
    # 40 images of 8 points, one of them 12 times: ties everywhere, more
    # copies than k2 and than k1 / 2
    points = np.random.default_rng(2).standard_normal((8, 6))
    return points[np.r_[np.zeros(12, int), np.arange(28) % 7 + 1]]


def _n_lt_k1():
    return np.random.default_rng(3).standard_normal((10, 5))


DATA = dict(
    random=_random, blobs=_blobs, duplicates=_duplicates, n_lt_k1=_n_lt_k1)


@pytest.mark.parametrize('data', sorted(DATA))
@pytest.mark.parametrize('k1,k2,variant', [(30, 6, 'faiss'), (20, 1, 'faiss'),
                                           (7, 3, 'faiss'), (20, 6, 'mmt'),
                                           (5, 8, 'mmt')])
def test_matches_dense_reference(data, k1, k2, variant):
    feats = DATA[data]()
    ref = dense_jaccard(feats, k1, k2, variant)
    out = compute_jaccard_distance(feats, k1, k2, variant=variant)
    _check_format(out, len(feats))
    np.testing.assert_allclose(_densify(out), ref, atol=1e-5)
    # exactly the pairs with d < 1 are stored (explicit zeros included)
    assert (_stored(out) == (ref < 1)).all()


@pytest.mark.parametrize('bound', [0.3, 0.62, 0.9])
def test_max_distance(bound):
    feats = _blobs()
    ref = dense_jaccard(feats, 30, 6)
    out = compute_jaccard_distance(feats, 30, 6, max_distance=bound)
    _check_format(out, len(feats))
    mask = _stored(out)
    assert (mask == (ref < bound)).all()
    assert mask.sum() < (ref < 1).sum()
    np.testing.assert_allclose(out.toarray()[mask], ref[mask], atol=1e-5)
    assert out.data.max() < bound


@pytest.mark.parametrize('variant,k1', [('faiss', 30), ('mmt', 20)])
def test_dbscan_labels_match_dense(variant, k1):
    """sklearn reads stored entries as distances and missing ones as "not
    a neighbour", so a bound above eps gives the dense labels."""
    feats = _blobs(n_ids=15, per_id=12, noise=0.5, n_noise=30, seed=4)
    ref = dense_jaccard(feats, k1, 6, variant)
    eps = 0.6

    def dbscan(mat):
        return DBSCAN(
            eps=eps, min_samples=4, metric='precomputed').fit_predict(mat)

    expected = dbscan(ref)
    assert len(set(expected)) > 3 and (expected == -1).any()
    for bound in (eps + 0.02, 1.0):
        out = compute_jaccard_distance(
            feats, k1, 6, max_distance=bound, variant=variant)
        np.testing.assert_array_equal(dbscan(out), expected)


@pytest.mark.parametrize('dense', [True, False])
@pytest.mark.parametrize('threads', [1, 2])
def test_small_blocks(monkeypatch, threads, dense):
    """Many tiny blocks (expansion, join, output assembly), joined by one
    thread or two, with either accumulation of the min-sum join (the dense
    rows x N buffer of small N, the sort of the pair keys of large N),
    give the same result."""
    import torch

    from reidkit.clustering import jaccard
    feats = _blobs(seed=6)
    ref = dense_jaccard(feats, 30, 6)
    monkeypatch.setattr(jaccard, '_DENSE_JOIN_FACTOR', 1e9 if dense else 0)
    monkeypatch.setattr(jaccard, '_JOIN_CONTRIBS', 300)
    monkeypatch.setattr(jaccard, '_JOIN_CELLS', 700)
    monkeypatch.setattr(jaccard, '_EXPAND_PAIRS', 200)
    monkeypatch.setattr(torch, 'get_num_threads', lambda: threads)
    for bound in (0.62, 1.0):
        out = compute_jaccard_distance(feats, max_distance=bound)
        _check_format(out, len(feats))
        assert (_stored(out) == (ref < bound)).all()
        np.testing.assert_allclose(
            out.toarray()[ref < bound], ref[ref < bound], atol=1e-5)


def test_hand_computed():
    # Five unit vectors in 2-D at angles 0, 10, 25, 90 and 100 degrees;
    # d_ij = 2 - 2 cos(angle difference). k1=4: initial_rank has 4 columns
    # (self included); the half sets use int(np.around(4 / 2)) + 1 = 3.
    #   rank: 0: [0 1 2 3]  1: [1 0 2 3]  2: [2 1 0 3]  3: [3 4 2 1]
    #         4: [4 3 2 1]
    # R(i, 4)   (j in rank[i,:4] and i in rank[j,:4]):
    #   R0={0,1,2} (3 lacks 0)  R1={0,1,2,3}  R2={0,1,2,3}  R3={1,2,3,4}
    #   R4={3,4} (2 and 1 lack 4)
    # R(i, 2) on rank[:, :3] = 0:[0 1 2] 1:[1 0 2] 2:[2 1 0] 3:[3 4 2]
    #   4:[4 3 2]:  H0=H1=H2={0,1,2}  H3=H4={3,4}
    # Expansion, |H(c) & R(i)| > 2/3 |H(c)|:
    #   i=1,2: c in {0,1,2}: 3 > 2 yes (adds nothing new); c=3:
    #     |{3,4} & R| = 1 > 4/3 no  ->  R* = {0,1,2,3}
    #   i=3: c=3,4: 2 > 4/3 yes, adds 4 (already in); c=1,2: |{0,1,2} &
    #     {1,2,3,4}| = 2 > 2 no  ->  R* = {1,2,3,4}
    #   R*0 = {0,1,2}, R*4 = {3,4}
    # V_i = softmax(-d_ij) over R*_i; S = sum_k min(V_ik, V_jk).
    # V0 and V4 have disjoint supports: S=0, d=1, not stored.
    angles = np.deg2rad([0, 10, 25, 90, 100])
    feats = np.stack([np.cos(angles), np.sin(angles)], 1)
    supports = [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3, 4], [3, 4]]
    V = np.zeros((5, 5))
    for i, sup in enumerate(supports):
        w = np.exp(-(2 - 2 * np.cos(angles[i] - angles[sup])))
        V[i, sup] = w / w.sum()

    def jaccard(V):
        S = np.minimum(V[:, None], V[None]).sum(-1)
        return 1 - S / (2 - S)

    expected = jaccard(V)
    out = compute_jaccard_distance(feats, k1=4, k2=1)
    _check_format(out, 5)
    np.testing.assert_allclose(_densify(out), expected, atol=1e-6)
    assert not _stored(out)[0, 4] and not _stored(out)[4, 0]
    assert _stored(out).sum() == 25 - 2

    # k2=2: V_i <- (V_i + V_rank[i,1]) / 2 with rank[:, 1] = [1 0 1 4 3]
    V2 = (V + V[[1, 0, 1, 4, 3]]) / 2
    out = compute_jaccard_distance(feats, k1=4, k2=2)
    np.testing.assert_allclose(_densify(out), jaccard(V2), atol=1e-6)
    # supports of rows 0 and 4 are now {0,1,2,3} and {1,2,3,4}
    assert _stored(out).all()


def test_inputs_and_backends():
    feats = _blobs(seed=5)
    ref = compute_jaccard_distance(feats)
    for kwargs in (dict(knn_backend='torch'), dict(knn_backend='faiss')):
        out = compute_jaccard_distance(feats, **kwargs)
        np.testing.assert_allclose(out.toarray(), ref.toarray(), atol=1e-6)
        assert (_stored(out) == _stored(ref)).all()
    # torch input, float64 input, and a scale change (normalised inside)
    for other in (torch.from_numpy(feats), feats.astype(np.float64),
                  feats * 7.5):
        out = compute_jaccard_distance(other)
        np.testing.assert_allclose(out.toarray(), ref.toarray(), atol=1e-5)
        assert (_stored(out) == _stored(ref)).all()


def test_tiny_inputs():
    out = compute_jaccard_distance(np.ones((1, 3), np.float32))
    assert out.shape == (1, 1) and out.nnz == 1 and out[0, 0] == 0
    out = compute_jaccard_distance(np.eye(2, dtype=np.float32), k1=1, k2=1)
    _check_format(out, 2)
    assert out.nnz == 2  # only self: k1=1 has no other neighbour


def test_timings_and_progress(capsys):
    feats = _blobs()
    timings = {}
    MMLogger.get_instance('test_jaccard_progress', log_level='INFO')
    compute_jaccard_distance(feats, progress=True, timings=timings)
    assert set(timings) == {
        'knn', 'reciprocal', 'encode', 'query_expansion', 'min_sum', 'jaccard',
        'total'
    }
    assert all(v >= 0 for v in timings.values())
    assert timings['jaccard'] == pytest.approx(timings['total'] -
                                               timings['knn'])
    out = capsys.readouterr().out
    assert 'kNN:' in out and 'min-sum join:' in out
    # silent by default
    compute_jaccard_distance(feats)
    assert 'kNN:' not in capsys.readouterr().out


def test_invalid_arguments():
    feats = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match='2-D'):
        compute_jaccard_distance(feats[0])
    with pytest.raises(ValueError, match='2-D'):
        compute_jaccard_distance(feats[None])
    bad = feats.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        compute_jaccard_distance(bad)
    with pytest.raises(ValueError, match='NaN'):
        compute_jaccard_distance(torch.from_numpy(bad))
    for k1 in (0, -3, 2.5):
        with pytest.raises(ValueError, match='k1'):
            compute_jaccard_distance(feats, k1=k1)
    with pytest.raises(ValueError, match='k2'):
        compute_jaccard_distance(feats, k2=0)
    for bound in (0, -0.1, 1.01):
        with pytest.raises(ValueError, match='max_distance'):
            compute_jaccard_distance(feats, max_distance=bound)
    with pytest.raises(ValueError, match='variant'):
        compute_jaccard_distance(feats, variant='gpu')
    with pytest.raises(ValueError, match='backend'):
        compute_jaccard_distance(feats, knn_backend='cuda')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('variant', ['faiss', 'mmt'])
def test_cuda_input(variant):
    feats = _blobs(seed=8)
    ref = compute_jaccard_distance(feats, variant=variant)
    out = compute_jaccard_distance(
        torch.from_numpy(feats).cuda(), variant=variant)
    assert (_stored(out) == _stored(ref)).all()
    np.testing.assert_allclose(out.toarray(), ref.toarray(), atol=1e-5)


def test_join_paths_agree_to_rounding():
    from reidkit.clustering.jaccard import _min_sum_join, _symmetric_csr
    enc = sp.random(60, 60, density=0.2, random_state=1, format='csr')
    enc = sp.diags(1 / np.asarray(enc.sum(1)).ravel()) @ enc
    enc = enc.tocsr()
    enc.sort_indices()
    out = [
        _symmetric_csr(_min_sum_join(enc, 1.0, dense=dense), 60).toarray()
        for dense in (True, False)
    ]
    np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-12)
    assert (out[0] != 0).sum() > 100


def test_features_in_a_file_give_identical_results(tmp_path, monkeypatch):
    """The out-of-core path (a FeatureFile read in blocks and gathers)
    returns bit for bit the matrix of the in-memory path, with super-blocks
    smaller than the file and pair blocks smaller than the pairs."""
    from reidkit.clustering import features as feats_mod
    from reidkit.clustering import jaccard
    from reidkit.clustering.features import FeatureFile
    feats = _blobs(n_ids=15, per_id=12, noise=0.5, n_noise=30, seed=4)
    np.save(tmp_path / 'f.npy', feats)
    monkeypatch.setattr(feats_mod, '_CHUNK_BYTES', 3 * 32 * 16 * 4)
    monkeypatch.setattr(jaccard, '_PAIR_ELEMS', 2 * 16 * 50)
    for variant in ('faiss', 'mmt'):
        kwargs = dict(k1=20, k2=6, variant=variant, knn_chunk_size=32)
        a = compute_jaccard_distance(feats, **kwargs)
        b = compute_jaccard_distance(
            FeatureFile(tmp_path / 'f.npy'), **kwargs)
        assert (a != b).nnz == 0
        assert (a.indptr == b.indptr).all() and (a.indices
                                                 == b.indices).all()


def test_approx_knn_option():
    feats = _blobs(n_ids=15, per_id=12, noise=0.5, n_noise=30, seed=4)
    n = len(feats)
    exact = compute_jaccard_distance(feats, max_distance=0.62)
    # probing every list is the exact search
    full = compute_jaccard_distance(
        feats,
        max_distance=0.62,
        approx_knn=dict(type='ivf', nlist=8, nprobe=8))
    assert (exact != full).nnz == 0
    timings = {}
    approx = compute_jaccard_distance(
        feats,
        max_distance=0.62,
        approx_knn=dict(type='ivf', nlist=16, nprobe=2),
        timings=timings)
    _check_format(approx, n)
    assert {'knn_train', 'knn_assign', 'knn_search'} <= set(timings)
    with pytest.raises(ValueError, match="variant='faiss' only"):
        compute_jaccard_distance(
            feats, variant='mmt', approx_knn=dict(type='ivf'))
    with pytest.raises(ValueError, match='Unknown option'):
        compute_jaccard_distance(feats, approx_knn=dict(type='ivf', nprob=2))
    with pytest.raises(ValueError, match='Unknown approximate kNN type'):
        compute_jaccard_distance(feats, approx_knn=dict(type='hnsw'))
