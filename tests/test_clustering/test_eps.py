import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN as SklearnDBSCAN

from reidkit.clustering import k_distance, mmt_eps, suggest_eps
from reidkit.clustering.jaccard import compute_jaccard_distance

# A hand-made symmetric distance matrix of 5 points.
DIST = np.array([
    [0.0, 0.1, 0.2, 0.6, 0.9],
    [0.1, 0.0, 0.3, 0.5, 1.0],
    [0.2, 0.3, 0.0, 0.4, 0.8],
    [0.6, 0.5, 0.4, 0.0, 0.7],
    [0.9, 1.0, 0.8, 0.7, 0.0],
])
# Distance to the 2nd nearest other point (k = min_samples = 3).
KDIST3 = [0.2, 0.3, 0.3, 0.5, 0.8]


def sparse_without(dist, missing=1.0):
    """CSR copy without the entries >= missing; the diagonal stays stored
    as explicit zeros."""
    rows, cols = np.nonzero((dist < missing) | np.eye(len(dist), dtype=bool))
    return sp.csr_matrix((dist[rows, cols], (rows, cols)), shape=dist.shape)


def test_k_distance_by_hand():
    np.testing.assert_allclose(k_distance(DIST, k=3), KDIST3)
    np.testing.assert_allclose(
        k_distance(DIST, k=2), [0.1, 0.1, 0.2, 0.4, 0.7])
    np.testing.assert_allclose(
        k_distance(DIST, k=5), [0.9, 1.0, 0.8, 0.7, 1.0])
    # More neighbours than points: every point gets missing_value.
    np.testing.assert_allclose(k_distance(DIST, k=6), [1.0] * 5)
    # Sparse: the same, missing pairs are 1.0; pairs below max_distance
    # only: point 4 has no stored neighbour below 0.65.
    np.testing.assert_allclose(k_distance(sparse_without(DIST), k=3), KDIST3)
    np.testing.assert_allclose(
        k_distance(sparse_without(DIST, 0.65), k=3), KDIST3[:4] + [1.0])
    np.testing.assert_allclose(k_distance(torch.from_numpy(DIST), k=3), KDIST3)


def test_k_distance_is_sklearn_core_rule():
    for eps in (0.2, 0.3, 0.5):
        core = np.zeros(5, bool)
        db = SklearnDBSCAN(eps=eps, min_samples=3, metric='precomputed')
        core[db.fit(DIST).core_sample_indices_] = True
        np.testing.assert_array_equal(core, np.array(KDIST3) <= eps)


def test_k_distance_explicit_zero_is_a_neighbour():
    # Points 0 and 1 are duplicates: an explicit stored 0.
    rows = [0, 0, 1, 1, 1, 2, 2]
    cols = [0, 1, 0, 1, 2, 1, 2]
    vals = [0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0]
    dist = sp.csr_matrix((vals, (rows, cols)), shape=(3, 3))
    np.testing.assert_allclose(k_distance(dist, k=2), [0.0, 0.0, 0.5])


def test_mmt_eps_by_hand():
    # Strict upper triangle, sorted: 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1
    assert mmt_eps(DIST, rho=0.2) == pytest.approx((0.1 + 0.2) / 2)
    assert mmt_eps(DIST, rho=0.5) == pytest.approx(0.3)
    # round(1.6e-3 * 10) = 0: at least one value is used.
    assert mmt_eps(DIST) == pytest.approx(0.1)
    # Zeros are dropped (a duplicate pair) and do not count.
    dist = DIST.copy()
    dist[0, 1] = dist[1, 0] = 0.0
    # 9 values left, round(0.2 * 9) = 2 smallest: 0.2 and 0.3.
    assert mmt_eps(dist, rho=0.2) == pytest.approx(0.25)
    # Sparse: pairs that are not stored count as 1.0.
    for rho in (0.2, 0.5, 0.9, 1.0):
        assert mmt_eps(
            sparse_without(DIST),
            rho=rho) == pytest.approx(mmt_eps(DIST, rho=rho))
    assert mmt_eps(
        sparse_without(DIST, 0.65), rho=1.0) == pytest.approx(
            (2.1 + 4 * 1.0) / 10)


def test_suggest_eps_by_hand():
    out = suggest_eps(
        DIST,
        k=3,
        quantile=0.5,
        rho=0.2,
        quantiles=(0.5, 0.75, 0.9),
        eps_grid=(0.3, 0.5))
    assert out['eps'] == pytest.approx(0.3)
    assert out['eps_mmt'] == pytest.approx(0.15)
    assert out['k'] == 3 and out['num_samples'] == 5
    assert out['kdist_quantiles'] == pytest.approx({
        0.5: 0.3,
        0.75: 0.5,
        0.9: 0.5 + 0.6 * 0.3
    })
    assert out['core_fraction'] == pytest.approx({0.3: 0.6, 0.5: 0.8})
    # The same from a sparse matrix (recognised as a distance matrix).
    sparse = suggest_eps(sparse_without(DIST), k=3, quantile=0.5, rho=0.2)
    assert sparse['eps'] == pytest.approx(0.3)
    assert sparse['eps_mmt'] == pytest.approx(0.15)


def test_suggest_eps_from_features():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16))
    feats = np.concatenate(
        [c + 0.4 * rng.normal(size=(20, 16)) for c in centers])
    out = suggest_eps(feats, k=4, k1=15, k2=6)
    dist = compute_jaccard_distance(feats, k1=15, k2=6, max_distance=1.0)
    ref = suggest_eps(dist, k=4)
    assert out['eps'] == pytest.approx(ref['eps'])
    assert out['eps_mmt'] == pytest.approx(ref['eps_mmt'])
    assert 0 < out['eps'] < 1 and out['num_samples'] == 80
    assert out['core_fraction'][0.6] >= out['core_fraction'][0.4]
    # At least `quantile` of the points are core points at eps.
    kdist = k_distance(dist, k=4)
    assert (kdist <= out['eps']).mean() >= 0.9
    # Torch input works too.
    assert suggest_eps(torch.from_numpy(feats), k=4, k1=15)['eps'] == \
        pytest.approx(out['eps'])


@pytest.mark.parametrize('call,match', [
    (lambda: k_distance(DIST, k=1), 'k'),
    (lambda: k_distance(DIST[:3], k=3), 'square'),
    (lambda: k_distance(-DIST, k=3), '>= 0'),
    (lambda: k_distance(np.full((2, 2), np.nan), k=2), 'NaN'),
    (lambda: k_distance(np.zeros((0, 0)), k=2), 'empty'),
    (lambda: k_distance(sparse_without(DIST), k=3, missing_value=0.5),
     'missing_value'),
    (lambda: mmt_eps(DIST, rho=0), 'rho'),
    (lambda: mmt_eps(np.zeros((1, 1))), 'at least 2'),
    (lambda: mmt_eps(np.zeros((3, 3))), 'zero'),
    (lambda: suggest_eps(DIST, quantile=1.0), 'quantile'),
    (lambda: suggest_eps(np.zeros((4, 0))), 'empty'),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
