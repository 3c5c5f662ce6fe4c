import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN as SklearnDBSCAN

import reidkit.clustering.clusterers as clusterers_mod
from reidkit.clustering import DBSCAN, BaseClusterer, InfoMap, KMeans
from reidkit.clustering.jaccard import compute_jaccard_distance
from reidkit.registry import CLUSTERERS


def make_blobs(n_blobs=5, size=30, dim=32, noise=0.15, n_isolated=0, seed=0):
    """Well-separated Gaussian blobs (+ far-away isolated points).

    Returns features (float32) and the blob index of every row (-1 for the
    isolated points, which come last).
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, dim))
    parts = [c + noise * rng.normal(size=(size, dim)) for c in centers]
    parts.append(3 * rng.normal(size=(n_isolated, dim)))
    gt = np.concatenate(
        [np.repeat(np.arange(n_blobs), size),
         np.full(n_isolated, -1)])
    return np.concatenate(parts).astype(np.float32), gt


def same_partition(a, b):
    """Equal up to a renaming of the clusters; -1 must match exactly."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
    return (len(pairs) == len(set(a[a >= 0].tolist())) == len(
        set(b[b >= 0].tolist())))


def assert_contract(labels, n):
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64
    assert labels.shape == (n, )
    assert labels.min() >= -1
    clustered = np.unique(labels[labels >= 0])
    np.testing.assert_array_equal(clustered, np.arange(len(clustered)))


def dense_jaccard(features, **kwargs):
    """The dense Jaccard matrix: missing sparse entries are distance 1."""
    dist = compute_jaccard_distance(
        features, max_distance=1.0, **kwargs).tocoo()
    dense = np.ones(dist.shape)
    dense[dist.row, dist.col] = dist.data
    return dense


# ----------------------------------------------------------------- DBSCAN
def test_dbscan_recovers_blobs_with_defaults():
    feats, gt = make_blobs()
    clusterer = DBSCAN()
    labels = clusterer.fit_predict(feats)
    assert_contract(labels, len(feats))
    assert same_partition(labels, gt)
    assert set(clusterer.last_timings) == {'knn', 'jaccard', 'cluster'}
    assert all(v >= 0 for v in clusterer.last_timings.values())
    info = clusterer.last_info
    assert info['eps'] == 0.6 and info['eps_source'] == 'fixed'
    assert info['max_distance'] == pytest.approx(0.62)
    assert info['num_clusters'] == 5 and info['num_outliers'] == 0


def test_dbscan_isolated_points_are_outliers():
    # Without query expansion (k2=1) a point far from everything shares no
    # encoding with anyone (Jaccard distance 1); with k2 > 1 it borrows its
    # nearest neighbours' encodings and may join their cluster.
    feats, gt = make_blobs(size=20, n_isolated=4)
    labels = DBSCAN(eps=0.6, k1=20, k2=1).fit_predict(feats)
    assert_contract(labels, len(feats))
    assert same_partition(labels, gt)
    assert (labels[-4:] == -1).all()


@pytest.mark.parametrize('eps,min_samples', [(0.3, 4), (0.5, 4), (0.6, 2),
                                             (0.7, 6)])
def test_dbscan_sparse_equals_dense(eps, min_samples):
    # Overlapping blobs, so that the partition depends on eps.
    feats, _ = make_blobs(n_blobs=8, size=15, dim=16, noise=1.0, seed=1)
    labels = DBSCAN(
        eps=eps, min_samples=min_samples, k1=20, k2=6).fit_predict(feats)
    dense = dense_jaccard(feats, k1=20, k2=6)
    expected = SklearnDBSCAN(
        eps=eps, min_samples=min_samples,
        metric='precomputed').fit_predict(dense)
    assert same_partition(labels, expected)


def test_dbscan_torch_input_matches_numpy():
    feats, gt = make_blobs(n_blobs=3, size=20, seed=2)
    a = DBSCAN(k1=20).fit_predict(feats)
    b = DBSCAN(k1=20).fit_predict(torch.from_numpy(feats).double())
    np.testing.assert_array_equal(a, b)
    # Normalising again is harmless.
    c = DBSCAN(k1=20).fit_predict(feats /
                                  np.linalg.norm(feats, axis=1, keepdims=True))
    np.testing.assert_array_equal(a, c)


def test_dbscan_auto_eps(monkeypatch):
    # Hand-made distances: 6 points, two groups of 3 (distances 0.1, 0.2,
    # 0.3 inside a group), pair (2, 3) at 0.9, every other pair missing
    # (= 1.0). Strict upper triangle: 15 pairs, none zero; with
    # rho = 0.2, round(0.2 * 15) = 3 smallest -> 0.1, 0.1, 0.2.
    entries = {
        (0, 1): 0.1,
        (0, 2): 0.2,
        (1, 2): 0.3,
        (3, 4): 0.1,
        (3, 5): 0.2,
        (4, 5): 0.3,
        (2, 3): 0.9
    }
    rows, cols, vals = [], [], []
    for (i, j), d in entries.items():
        rows += [i, j]
        cols += [j, i]
        vals += [d, d]
    rows += list(range(6))
    cols += list(range(6))
    vals += [0.0] * 6
    dist = sp.csr_matrix((vals, (rows, cols)), shape=(6, 6))
    calls = []

    def fake_jaccard(features, max_distance=1.0, timings=None, **kwargs):
        calls.append(max_distance)
        timings.update(knn=0.0, jaccard=0.0)
        if calls[-1] < 1.0:  # a later epoch: every distance shrinks
            return dist * 0.5
        return dist

    monkeypatch.setattr(clusterers_mod, 'compute_jaccard_distance',
                        fake_jaccard)
    clusterer = DBSCAN(
        eps='auto', min_samples=2, auto_eps=0.2, distance_margin=0.02)
    feats = np.eye(6, dtype=np.float32)
    labels = clusterer.fit_predict(feats)
    expected_eps = (0.1 + 0.1 + 0.2) / 3
    assert calls == [1.0]
    assert clusterer.eps_ == pytest.approx(expected_eps)
    assert clusterer.last_info['eps'] == pytest.approx(expected_eps)
    assert clusterer.last_info['eps_source'] == 'auto'
    assert 'auto_eps' in clusterer.last_timings
    # eps 0.1333: pairs at 0.1 are neighbours, so 0-1 and 3-4 cluster.
    assert same_partition(labels, [0, 0, -1, 1, 1, -1])
    # Later calls keep eps and store only pairs up to eps + margin.
    labels = clusterer.fit_predict(feats)
    assert calls[1] == pytest.approx(expected_eps + 0.02)
    assert clusterer.last_info['eps'] == pytest.approx(expected_eps)
    assert 'auto_eps' not in clusterer.last_timings
    # Halved distances: 0.05, 0.1, 0.15 -> within a group 0.05 and 0.1.
    assert same_partition(labels, [0, 0, 0, 1, 1, 1])


def test_dbscan_auto_eps_default_rho_end_to_end():
    feats, gt = make_blobs(n_blobs=4, size=25, seed=3)
    clusterer = DBSCAN(eps='auto', k1=20)
    clusterer.fit_predict(feats)
    eps = clusterer.eps_
    assert 0 < eps < 1
    dense = dense_jaccard(feats, k1=20, k2=6)
    tri = np.sort(dense[np.triu_indices(len(feats), 1)])
    tri = tri[tri > 0]
    top = max(1, int(np.round(1.6e-3 * tri.size)))
    assert eps == pytest.approx(tri[:top].mean(), rel=1e-5)


# ----------------------------------------------------------------- KMeans
@pytest.mark.parametrize('backend', ['faiss', 'sklearn', 'auto'])
def test_kmeans_blobs(backend):
    feats, gt = make_blobs(n_blobs=4, size=25, seed=4)
    # Several initialisations: one k-means run may merge two blobs.
    clusterer = KMeans(num_clusters=4, backend=backend, seed=0, n_init=5)
    labels = clusterer.fit_predict(feats)
    assert_contract(labels, len(feats))
    assert same_partition(labels, gt)
    assert (labels >= 0).all()
    assert clusterer.last_info['backend'] == ('faiss' if backend == 'auto' else
                                              backend)
    assert set(clusterer.last_timings) == {'cluster'}


def test_kmeans_deterministic_and_errors():
    feats, _ = make_blobs(n_blobs=3, size=10, seed=5)
    a = KMeans(num_clusters=5, seed=1).fit_predict(feats)
    b = KMeans(num_clusters=5, seed=1).fit_predict(torch.from_numpy(feats))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match='num_clusters=31 is larger'):
        KMeans(num_clusters=31).fit_predict(feats)


# ---------------------------------------------------------------- InfoMap
def test_infomap_blobs_small_groups_and_isolated():
    # Orthogonal directions: 3 groups of 20, a group of 3, 2 lone points.
    rng = np.random.default_rng(6)
    dirs = np.linalg.qr(rng.normal(size=(32, 32)))[0].T
    sizes = [20, 20, 20, 3, 1, 1]
    feats = np.concatenate([
        d + 0.05 * rng.normal(size=(n, 32)) for d, n in zip(dirs, sizes)
    ]).astype(np.float32)
    expected = np.repeat([0, 1, 2, -1, -1, -1], sizes)
    clusterer = InfoMap()
    labels = clusterer.fit_predict(feats)
    assert_contract(labels, len(feats))
    assert same_partition(labels, expected)
    assert set(clusterer.last_timings) == {'knn', 'graph', 'cluster'}
    assert clusterer.last_info['num_clusters'] == 3
    assert clusterer.last_info['num_isolated'] == 2
    # Deterministic (fixed seed).
    np.testing.assert_array_equal(labels, InfoMap().fit_predict(feats))
    # With min_size=2 the group of 3 is kept (modules of <= 2 dropped).
    labels = InfoMap(min_size=2).fit_predict(feats)
    assert labels[-5:-2].min() >= 0 and len(set(labels[-5:-2])) == 1
    assert (labels[-2:] == -1).all()


def test_infomap_no_edges():
    feats = np.eye(5, dtype=np.float32)  # cosine similarity 0 everywhere
    clusterer = InfoMap(k=3)
    labels = clusterer.fit_predict(feats)
    np.testing.assert_array_equal(labels, -np.ones(5))
    assert clusterer.last_info['num_edges'] == 0


# --------------------------------------------------- registry and errors
def test_registry_build_by_string():
    clusterer = CLUSTERERS.build(dict(type='DBSCAN', eps=0.5))
    assert isinstance(clusterer, DBSCAN) and clusterer.eps == 0.5
    assert isinstance(clusterer, BaseClusterer)
    assert repr(clusterer).startswith('DBSCAN(eps=0.5, min_samples=4, ')
    assert 'n_jobs=2' in repr(clusterer)
    assert isinstance(
        CLUSTERERS.build(dict(type='KMeans', num_clusters=3)), KMeans)
    assert isinstance(CLUSTERERS.build(dict(type='InfoMap', k=10)), InfoMap)


@pytest.mark.parametrize(
    'make',
    [lambda: DBSCAN(), lambda: KMeans(num_clusters=1), lambda: InfoMap()])
@pytest.mark.parametrize('features,match', [
    (np.zeros((0, 8)), 'empty'),
    (np.zeros(8), '2-D'),
    (np.zeros((2, 3, 4)), '2-D'),
    (np.array([[0.1, np.nan], [0.3, 0.4]]), 'NaN'),
    (np.array([['a', 'b']]), 'real-valued'),
])
def test_bad_features(make, features, match):
    with pytest.raises(ValueError, match=match):
        make().fit_predict(features)


@pytest.mark.parametrize('cls,kwargs,match', [
    (DBSCAN, dict(eps=0), r'\(0, 1\)'),
    (DBSCAN, dict(eps=1.0), r'\(0, 1\)'),
    (DBSCAN, dict(eps=1.5), r'\(0, 1\)'),
    (DBSCAN, dict(eps='large'), 'auto'),
    (DBSCAN, dict(min_samples=0), 'min_samples'),
    (DBSCAN, dict(k1=0), 'k1'),
    (DBSCAN, dict(jaccard_variant='dense'), 'jaccard_variant'),
    (DBSCAN, dict(n_jobs=0), 'n_jobs'),
    (DBSCAN, dict(distance_margin=-0.1), 'distance_margin'),
    (DBSCAN, dict(eps='auto', auto_eps=2.0), 'rho'),
    (KMeans, dict(num_clusters=0), 'num_clusters'),
    (KMeans, dict(num_clusters=2, backend='cuml'), 'backend'),
    (KMeans, dict(num_clusters=2, niter=0), 'niter'),
    (InfoMap, dict(k=1), 'k must'),
    (InfoMap, dict(min_sim=1.5), 'min_sim'),
    (InfoMap, dict(min_size=-1), 'min_size'),
    (InfoMap, dict(seed=0), 'seed'),
])
def test_bad_parameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)
