"""Subset selection, 2-D embedding and scatter plots of features."""
import sys

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from reidkit.visualization.embedding import (OUTLIER_COLOR,
                                             compute_embedding,
                                             embed_and_plot, plot_embedding,
                                             select_subset)


def blobs(num_ids=6, per_id=8, dim=16, seed=0):
    """Well separated Gaussian blobs, one per identity."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_ids), per_id)
    centres = 5 * rng.normal(size=(num_ids, dim))
    feats = centres[labels] + 0.3 * rng.normal(size=(len(labels), dim))
    return feats.astype(np.float32), labels


def test_select_first_ids_and_cap():
    labels = np.array([5, 3, 3, 9, 5, 1, 9, 1, 1, 7])
    keep = select_subset(labels, max_ids=2)
    assert keep.tolist() == [1, 2, 5, 7, 8]  # ids 1 and 3
    assert select_subset(labels, max_ids=0).tolist() == list(range(10))
    assert select_subset(labels, max_ids=None).tolist() == list(range(10))
    # candidate ids (e.g. those with a query image)
    keep = select_subset(labels, max_ids=2, candidate_ids=[9, 7, 100])
    assert keep.tolist() == [3, 6, 9]
    # max_points: a sorted random subset of the selected points
    keep = select_subset(labels, max_ids=3, max_points=4, seed=1)
    assert len(keep) == 4 and np.all(np.diff(keep) > 0)
    assert set(labels[keep]) <= {1, 3, 5}
    with pytest.raises(ValueError, match='No point to embed'):
        select_subset([-1, -1])
    with pytest.raises(ValueError, match='candidate_ids'):
        select_subset(labels, candidate_ids=[42])


def test_select_random_ids_reproducible():
    labels = np.repeat(np.arange(50), 3)
    a = select_subset(labels, max_ids=5, random_ids=True, seed=3)
    b = select_subset(labels, max_ids=5, random_ids=True, seed=3)
    assert a.tolist() == b.tolist()
    assert len(np.unique(labels[a])) == 5 and len(a) == 15
    assert np.unique(labels[a]).tolist() != [0, 1, 2, 3, 4]


def test_select_pseudo_outlier_share():
    # 10 clusters of 4 and 20 outliers: 2 clusters = 1/5 of the
    # clustered points, so 1/5 of the outliers (4) come with them.
    labels = np.concatenate([np.repeat(np.arange(10), 4), -np.ones(20)])
    keep = select_subset(labels, max_ids=2, seed=0)
    assert (labels[keep] >= 0).sum() == 8
    assert (labels[keep] == -1).sum() == 4
    assert set(labels[keep][labels[keep] >= 0]) == {0, 1}
    # every cluster shown: every outlier too
    keep = select_subset(labels, max_ids=20)
    assert len(keep) == len(labels)


def test_compute_embedding_errors(monkeypatch):
    feats, _ = blobs(num_ids=2, per_id=3)
    with pytest.raises(ValueError, match='Unknown embedding method'):
        compute_embedding(feats, method='pca')
    with pytest.raises(ValueError, match='at least 4 points'):
        compute_embedding(feats[:3])
    monkeypatch.setitem(sys.modules, 'umap', None)  # not installed
    with pytest.raises(ImportError, match='pip install umap-learn'):
        compute_embedding(feats, method='umap')


def test_tsne_separates_blobs():
    feats, labels = blobs(num_ids=4, per_id=6)
    with pytest.warns(UserWarning, match='perplexity 30 is too large'):
        points = compute_embedding(feats, perplexity=30, seed=0)
    assert points.shape == (24, 2) and np.isfinite(points).all()
    # each point's nearest neighbour in 2-D has its identity
    dist = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(1)] == labels).mean() == 1.0
    again = compute_embedding(feats, perplexity=5, seed=0)
    np.testing.assert_allclose(again, compute_embedding(feats, perplexity=5,
                                                        seed=0))


def test_plot_embedding_outliers_grey(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, -1, -1, -1, 2, 2, 2])
    points = rng.normal(size=(len(labels), 2))
    out = str(tmp_path / 'deep' / 'emb.png')
    fig = plot_embedding(points, labels, out, title='t', label_name='cluster')
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.size == (600, 500)
    ax = fig.axes[0]
    outliers, *clusters = ax.collections
    assert len(outliers.get_offsets()) == 3
    np.testing.assert_allclose(outliers.get_facecolors()[0],
                               to_rgba(OUTLIER_COLOR))
    assert outliers.get_sizes()[0] < clusters[0].get_sizes()[0]
    assert [len(c.get_offsets()) for c in clusters] == [2, 2, 3]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ['cluster 0', 'cluster 1', 'cluster 2', 'outlier (3)']
    assert ax.get_xlabel() == 't-SNE 1'

    # many labels: no legend; other size
    labels = np.arange(30)
    fig = plot_embedding(rng.normal(size=(30, 2)), labels,
                         str(tmp_path / 'many.png'), method='umap',
                         figsize=(4, 3), dpi=50)
    assert not fig.legends and fig.axes[0].get_ylabel() == 'UMAP 2'
    with Image.open(str(tmp_path / 'many.png')) as img:
        assert img.size == (200, 150)
    with pytest.raises(ValueError, match='N labels'):
        plot_embedding(points, labels, str(tmp_path / 'bad.png'))


def test_embed_and_plot(tmp_path):
    feats, labels = blobs(num_ids=3, per_id=6)
    labels[::5] = -1
    out = str(tmp_path / 'emb.png')
    points = embed_and_plot(feats, labels, out, perplexity=4, seed=0)
    assert points.shape == (18, 2)
    with Image.open(out) as img:
        assert img.size == (600, 500)
    with pytest.raises(ValueError, match='one label per row'):
        embed_and_plot(feats, labels[:-1], out)
