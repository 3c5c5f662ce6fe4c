"""Tests for :func:`reidkit.clustering.knn_search`."""
import numpy as np
import pytest
import torch

from reidkit.clustering import knn_search
from reidkit.clustering.knn import resolve_backend

BACKENDS = ('faiss', 'torch')


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_force(feats, k):
    """float64 distances, self forced first, then (distance, index)."""
    f = feats.astype(np.float64)
    dist = ((f[:, None] - f[None])**2).sum(-1)
    np.fill_diagonal(dist, -1)
    order = np.argsort(dist, axis=1, kind='stable')[:, :k]
    vals = np.take_along_axis(dist, order, 1)
    vals[:, 0] = 0
    return vals, order


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('k', [1, 5, 31])
def test_matches_brute_force(backend, k):
    rng = np.random.default_rng(0)
    feats = _unit(rng.standard_normal((257, 24)))
    dists, inds = knn_search(feats, k, backend=backend)
    ref_d, ref_i = _brute_force(feats, k)
    assert dists.dtype == np.float32 and inds.dtype == np.int64
    assert dists.shape == inds.shape == (257, k)
    np.testing.assert_array_equal(inds, ref_i)
    np.testing.assert_allclose(dists, ref_d, atol=1e-5)
    assert (inds[:, 0] == np.arange(257)).all()
    assert (dists[:, 0] == 0).all()
    assert (np.diff(dists, axis=1) >= 0).all()


@pytest.mark.parametrize('backend', BACKENDS)
def test_not_normalised_input(backend):
    # squared Euclidean distances, nothing is normalised
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((100, 8)).astype(np.float32) * 3
    dists, inds = knn_search(feats, 7, backend=backend)
    ref_d, ref_i = _brute_force(feats, 7)
    np.testing.assert_array_equal(inds, ref_i)
    np.testing.assert_allclose(dists, ref_d, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('chunk_size', [5, 7, 64])
def test_torch_blocks(chunk_size):
    # ragged blocks, blocks narrower than k, merging across many blocks
    rng = np.random.default_rng(2)
    feats = _unit(rng.standard_normal((150, 16)))
    ref = knn_search(feats, 12, backend='torch', chunk_size=1000)
    out = knn_search(feats, 12, backend='torch', chunk_size=chunk_size)
    np.testing.assert_array_equal(out[1], ref[1])
    np.testing.assert_allclose(out[0], ref[0], atol=1e-6)
    faiss_out = knn_search(feats, 12, backend='faiss', chunk_size=chunk_size)
    np.testing.assert_array_equal(faiss_out[1], ref[1])


@pytest.mark.parametrize('backend', BACKENDS)
def test_duplicates(backend):
    """More exact duplicates than k: self first, then by index."""
    rng = np.random.default_rng(3)
    base = _unit(rng.standard_normal((3, 8)))
    # 15 copies of point 0, interleaved with copies of the others
    feats = base[np.array([0, 1] * 15 + [2] * 4)]
    dists, inds = knn_search(feats, 10, backend=backend)
    copies0 = np.flatnonzero((feats == base[0]).all(1))
    for i in copies0:
        others = copies0[copies0 != i]
        assert inds[i, 0] == i
        np.testing.assert_array_equal(inds[i, 1:], others[:9])
        np.testing.assert_allclose(dists[i], 0, atol=1e-6)
    # every row, including those of point 2 (4 copies, then a tie between
    # 15 copies of the nearest other point at the cut-off): same lists as
    # a stable argsort
    np.testing.assert_array_equal(inds, _brute_force(feats, 10)[1])


def test_backends_agree_on_ties():
    rng = np.random.default_rng(4)
    base = _unit(rng.standard_normal((20, 6)))
    feats = base[rng.integers(0, 20, 200)]
    a = knn_search(feats, 15, backend='faiss')
    b = knn_search(feats, 15, backend='torch', chunk_size=33)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


@pytest.mark.parametrize('backend', BACKENDS)
def test_k_larger_than_n(backend):
    feats = _unit(np.random.default_rng(5).standard_normal((6, 4)))
    dists, inds = knn_search(feats, 30, backend=backend)
    assert inds.shape == dists.shape == (6, 6)
    ref_d, ref_i = _brute_force(feats, 6)
    np.testing.assert_array_equal(inds, ref_i)
    one = knn_search(feats[:1], 3, backend=backend)
    assert one[1].tolist() == [[0]] and one[0].tolist() == [[0.0]]


def test_torch_tensor_input():
    rng = np.random.default_rng(6)
    feats = _unit(rng.standard_normal((80, 10)))
    ref = knn_search(feats, 5)
    for backend in ('auto', *BACKENDS):
        out = knn_search(torch.from_numpy(feats), 5, backend=backend)
        assert isinstance(out[0], np.ndarray)
        np.testing.assert_array_equal(out[1], ref[1])
    # float64 and float16 inputs are cast to float32
    out = knn_search(feats.astype(np.float64), 5)
    np.testing.assert_array_equal(out[1], ref[1])


def test_resolve_backend():
    feats = np.zeros((2, 2), np.float32)
    cpu_auto = 'torch' if torch.backends.mkl.is_available() else 'faiss'
    assert resolve_backend('auto', feats) == cpu_auto
    assert resolve_backend('auto', torch.from_numpy(feats)) == cpu_auto
    assert resolve_backend('faiss', torch.from_numpy(feats)) == 'faiss'
    assert resolve_backend('torch', feats) == 'torch'
    with pytest.raises(ValueError, match='backend'):
        resolve_backend('cuda', feats)


def test_invalid_input():
    feats = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match='2-D'):
        knn_search(np.ones(4, np.float32), 2)
    with pytest.raises(ValueError, match='empty'):
        knn_search(np.ones((0, 3), np.float32), 2)
    bad = feats.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        knn_search(bad, 2)
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match='k must'):
            knn_search(feats, k)
    with pytest.raises(ValueError, match='chunk_size'):
        knn_search(feats, 2, chunk_size=0)
    with pytest.raises(ValueError, match='backend'):
        knn_search(feats, 2, backend='gpu')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_input():
    feats = _unit(np.random.default_rng(7).standard_normal((300, 32)))
    ref = knn_search(feats, 10)
    cuda = torch.from_numpy(feats).cuda()
    assert resolve_backend('auto', cuda) == 'torch'
    for backend in ('auto', 'faiss'):
        out = knn_search(cuda, 10, backend=backend)
        np.testing.assert_array_equal(out[1], ref[1])
        np.testing.assert_allclose(out[0], ref[0], atol=1e-5)
