"""Tests for the inverted-file approximate kNN (reidkit.clustering.ivf)."""
import numpy as np
import pytest
import torch

from reidkit.clustering import knn_search
from reidkit.clustering.features import FeatureFile
from reidkit.clustering.ivf import (_assign, _train_centroids,
                                    build_approx_knn, default_nlist, ivf_knn)


def _clustered(n=600, ids=40, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((ids, dim))
    x = centres[rng.integers(0, ids, n)] + 0.4 * rng.standard_normal(
        (n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _ivf(x, k, **kwargs):
    return knn_search(x, k, approx=dict(type='ivf', **kwargs))


def test_probing_every_list_is_exact():
    x = _clustered()
    exact = knn_search(x, 21)
    approx = _ivf(x, 21, nlist=12, nprobe=12)
    np.testing.assert_array_equal(approx[1], exact[1])
    np.testing.assert_array_equal(approx[0], exact[0])


def test_lists_follow_the_knn_rules_and_recall_grows():
    x = _clustered()
    k = 15
    exact = knn_search(x, k)[1]
    recalls = []
    for nprobe in (1, 3, 9):
        dists, inds = _ivf(x, k, nlist=30, nprobe=nprobe)
        assert inds.shape == (len(x), k)
        assert (inds[:, 0] == np.arange(len(x))).all()  # self first
        assert (dists[:, 0] == 0).all()
        assert (np.diff(dists, axis=1) >= 0).all()  # ascending
        assert all(len(set(row)) == k for row in inds)  # no repeats
        # the distances are the true ones of the listed rows
        true = ((x[:, None] - x[inds])**2).sum(-1)
        np.testing.assert_allclose(dists[:, 1:], true[:, 1:], atol=1e-5)
        recalls.append(
            np.mean([len(np.intersect1d(a, b)) for a, b in zip(inds, exact)])
            / k)
    assert recalls[0] < recalls[1] < recalls[2] <= 1
    assert recalls[2] > 0.95


def test_short_lists_fall_back_to_the_exact_search():
    """A row whose probed lists hold fewer than k rows is searched
    exactly (here every row: 1 probe of 2 rows on average, for k=12)."""
    x = _clustered(n=200)
    exact = knn_search(x, 12)
    stats = {}
    approx = knn_search(
        x, 12, approx=dict(type='ivf', nlist=100, nprobe=1, stats=stats))
    assert stats['scanned'] < 3
    np.testing.assert_array_equal(approx[1], exact[1])


def test_file_and_memory_agree(tmp_path, monkeypatch):
    from reidkit.clustering import features
    x = _clustered()
    np.save(tmp_path / 'x.npy', x)
    monkeypatch.setattr(features, '_CHUNK_BYTES', 7 * 64 * 24 * 4)
    a = knn_search(x, 11, chunk_size=64, approx=dict(type='ivf', nprobe=3))
    b = knn_search(
        FeatureFile(tmp_path / 'x.npy'),
        11,
        chunk_size=64,
        approx=dict(type='ivf', nprobe=3))
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_seeded_and_deterministic():
    x = _clustered()
    a = _ivf(x, 9, nlist=20, nprobe=2, seed=3)
    b = _ivf(x, 9, nlist=20, nprobe=2, seed=3)
    np.testing.assert_array_equal(a[1], b[1])


def test_kmeans_by_hand():
    # two tight groups; 2 lists, 1 iteration from any start separates them
    x = torch.tensor([[0., 0.], [0., .1], [10., 0.], [10., .1]])
    from reidkit.clustering.features import row_source
    cent = _train_centroids(
        row_source(x), 2, 4, 3, torch.Generator().manual_seed(0))
    cent = cent[cent[:, 0].argsort()]
    torch.testing.assert_close(cent, torch.tensor([[0., .05], [10., .05]]))
    # nearest centroids, nearest first
    probes = _assign(x, cent, 2)
    assert probes.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0]]


def test_stats_and_defaults():
    x = _clustered()
    stats = {}
    ivf_knn(x, 5, nprobe=4, stats=stats)
    assert stats['nlist'] == default_nlist(len(x)) == 75
    assert stats['nprobe'] == 4 and stats['train_size'] == len(x)
    assert 0 < stats['scanned'] < len(x)
    assert default_nlist(10**6) == 4000 and default_nlist(10) == 1


def test_invalid_options():
    x = _clustered(n=50)
    with pytest.raises(ValueError, match='nprobe'):
        ivf_knn(x, 5, nprobe=0)
    with pytest.raises(ValueError, match='nlist'):
        ivf_knn(x, 5, nlist=2.5)
    with pytest.raises(ValueError, match='dict with a type'):
        build_approx_knn(dict(nprobe=3))
    with pytest.raises(ValueError, match="allowed: \\['nlist'"):
        build_approx_knn(dict(type='ivf', probes=3))
