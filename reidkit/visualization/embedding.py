"""2-D embeddings (t-SNE / UMAP) of re-ID features, drawn to an image.

Example:
    >>> from reidkit.visualization.embedding import (select_subset,
    ...                                              embed_and_plot)
    >>> keep = select_subset(labels, max_ids=20, max_points=2000)
    >>> embed_and_plot(feats[keep], labels[keep], 'emb.png',
    ...                title='test split by identity', label_name='id')
"""
import os
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from .curves import new_figure

METHODS = ('tsne', 'umap')
METHOD_NAMES = dict(tsne='t-SNE', umap='UMAP')
#: Colour of the outliers (label -1).
OUTLIER_COLOR = '#b0b0b0'


def select_subset(labels: Sequence[int],
                  max_ids: Optional[int] = 20,
                  max_points: Optional[int] = 2000,
                  random_ids: bool = False,
                  seed: int = 0,
                  candidate_ids: Optional[Sequence[int]] = None
                  ) -> np.ndarray:
    """Indices of the points to embed: a few identities, and their share
    of outliers.

    1. The identities are the non-negative labels (of ``candidate_ids``
       when given); the first ``max_ids`` of them in sorted order are kept,
       or ``max_ids`` random ones with ``random_ids``.
    2. All points of the kept identities are kept, and of the outliers
       (label -1) the same fraction as of the labelled points (all of them
       when every identity is kept), chosen at random.
    3. If more than ``max_points`` points remain, ``max_points`` of them
       are drawn at random.

    Args:
        labels (Sequence[int]): One label per point; -1 = outlier.
        max_ids (int, optional): Identities to keep; None or 0 = all.
            Defaults to 20.
        max_points (int, optional): Cap on the points; None or 0 = none.
            Defaults to 2000.
        random_ids (bool): Draw the identities at random instead of taking
            the first ones. Defaults to False.
        seed (int): Seed of every random choice. Defaults to 0.
        candidate_ids (Sequence[int], optional): The identities that may
            be kept, e.g. only those with a query image (leaving out
            Market's distractors, pid 0). Defaults to all.

    Returns:
        np.ndarray: Sorted indices into ``labels``.

    Raises:
        ValueError: When no point has an eligible label.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    rng = np.random.default_rng(seed)
    ids = np.unique(labels[labels >= 0])
    if candidate_ids is not None:
        ids = np.intersect1d(ids, np.asarray(candidate_ids, dtype=np.int64))
    if len(ids) == 0:
        raise ValueError(
            f'No point to embed: none of the {len(labels)} labels is a '
            'non-negative identity' +
            (' in candidate_ids' if candidate_ids is not None else '') +
            ' (-1 marks outliers).')
    all_ids = max_ids is None or max_ids <= 0 or max_ids >= len(ids)
    if not all_ids:
        if random_ids:
            ids = np.sort(rng.choice(ids, size=max_ids, replace=False))
        else:
            ids = ids[:max_ids]
    inliers = np.flatnonzero(np.isin(labels, ids))
    outliers = np.flatnonzero(labels < 0)
    if len(outliers) and not (all_ids and candidate_ids is None):
        share = len(inliers) / max(1, int((labels >= 0).sum()))
        num = min(len(outliers), int(round(share * len(outliers))))
        outliers = rng.choice(outliers, size=num, replace=False)
    keep = np.sort(np.concatenate([inliers, outliers]))
    if max_points and len(keep) > max_points:
        keep = np.sort(rng.choice(keep, size=max_points, replace=False))
    return keep


def compute_embedding(features: np.ndarray,
                      method: str = 'tsne',
                      perplexity: float = 30.0,
                      seed: int = 0,
                      num_threads: Optional[int] = 1) -> np.ndarray:
    """Embed features in 2-D.

    Args:
        features (np.ndarray): ``(N, D)`` features (L2-normalised ones, as
            re-ID retrieval compares them).
        method (str): ``'tsne'`` (scikit-learn's ``TSNE``, PCA
            initialisation) or ``'umap'`` (needs the ``umap-learn``
            package). Defaults to 'tsne'.
        perplexity (float): t-SNE's perplexity, lowered to ``(N - 1) / 3``
            (with a warning) for few points. Defaults to 30.
        seed (int): Random state. Defaults to 0.
        num_threads (int, optional): OpenMP / BLAS threads while
            embedding; None = the libraries' defaults. Defaults to 1:
            torch and scikit-learn load two OpenMP runtimes, and with both
            multi-threaded a small t-SNE was seen to stall for tens of
            seconds on a busy 2-core machine (0.3 s with one thread).

    Returns:
        np.ndarray: ``(N, 2)`` float coordinates.

    Raises:
        ValueError: On an unknown method or fewer than 4 points.
        ImportError: For ``'umap'`` without ``umap-learn``.
    """
    check_method(method)
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError('features must be an (N, D) array, got shape '
                         f'{features.shape}.')
    n = len(features)
    if n < 4:
        raise ValueError(f'A 2-D embedding needs at least 4 points, got {n}; '
                         'select more identities (max_ids) or points.')
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=num_threads):
        return _embed(features, method, perplexity, seed)


def check_method(method: str) -> None:
    """Fail early when an embedding method cannot run.

    Args:
        method (str): 'tsne' or 'umap'.

    Raises:
        ValueError: On an unknown method.
        ImportError: For 'umap' without the ``umap-learn`` package.
    """
    if method not in METHODS:
        raise ValueError(f'Unknown embedding method "{method}"; use one of '
                         f'{", ".join(METHODS)}.')
    if method == 'umap':
        try:
            import umap  # noqa: F401
        except ImportError:
            raise ImportError(
                'method "umap" needs the umap-learn package, which reidkit '
                'does not install: pip install umap-learn (or use the '
                'default method "tsne", from scikit-learn).') from None


def _embed(features: np.ndarray, method: str, perplexity: float,
           seed: int) -> np.ndarray:
    n = len(features)
    if method == 'umap':
        import umap
        reducer = umap.UMAP(n_components=2, random_state=seed,
                            n_neighbors=min(15, n - 1))
        return np.asarray(reducer.fit_transform(features), dtype=np.float64)

    from sklearn.manifold import TSNE
    limit = (n - 1) / 3.0
    if perplexity >= limit:
        new = max(1.0, limit)
        warnings.warn(f't-SNE perplexity {perplexity:g} is too large for '
                      f'{n} points; using {new:.3g}.')
        perplexity = new
    tsne = TSNE(n_components=2, perplexity=perplexity, init='pca',
                learning_rate='auto', random_state=seed)
    return np.asarray(tsne.fit_transform(features), dtype=np.float64)


def _colors(num: int) -> np.ndarray:
    import matplotlib
    if num <= 10:
        return matplotlib.colormaps['tab10'](np.arange(num))
    if num <= 20:
        # The dark colours of tab20 first, then the light ones, so that
        # neighbouring labels do not get two shades of one colour.
        order = np.r_[np.arange(0, 20, 2), np.arange(1, 20, 2)]
        return matplotlib.colormaps['tab20'](order[:num])
    # Many classes: spread over a perceptual map, neighbours apart.
    colors = matplotlib.colormaps['turbo'](np.linspace(0.05, 0.95, num))
    order = np.random.default_rng(0).permutation(num)
    return colors[order]


def plot_embedding(points: np.ndarray,
                   labels: Sequence[int],
                   out_file: str,
                   title: Optional[str] = None,
                   label_name: str = 'id',
                   method: str = 'tsne',
                   figsize: Tuple[float, float] = (6.0, 5.0),
                   dpi: int = 100,
                   max_legend: int = 20) -> Figure:
    """Scatter 2-D points coloured by label and save the figure.

    Every label >= 0 gets a colour; the outliers (-1) are small grey
    points. With at most ``max_legend`` labels a legend (``label_name``
    and the label) sits right of the plot; with more, none.

    Args:
        points (np.ndarray): ``(N, 2)`` coordinates.
        labels (Sequence[int]): ``(N,)`` labels, -1 = outlier.
        out_file (str): The image to write (its folder is created); the
            format follows the extension.
        title (str, optional): The plot's title.
        label_name (str): What a label is, in the legend, e.g. 'id',
            'cluster', 'cam'. Defaults to 'id'.
        method (str): Names the axes ('tsne' -> "t-SNE 1"). Defaults to
            'tsne'.
        figsize (tuple): Inches. Defaults to (6, 5).
        dpi (int): Defaults to 100 (a 600 x 500 image).
        max_legend (int): Most labels with a legend. Defaults to 20.

    Returns:
        Figure: The saved figure (its first axes hold one scatter
        collection for the outliers, if any, then one per label).
    """
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if points.ndim != 2 or points.shape[1] != 2 or \
            len(points) != len(labels):
        raise ValueError(f'plot_embedding needs (N, 2) points and N labels, '
                         f'got {points.shape} and {labels.shape}.')
    classes = np.unique(labels[labels >= 0])
    colors = _colors(len(classes))
    legend = 0 < len(classes) <= max_legend
    fig = new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    out = labels < 0
    if out.any():
        ax.scatter(points[out, 0], points[out, 1], s=6, c=OUTLIER_COLOR,
                   marker='o', linewidths=0,
                   label=f'outlier ({int(out.sum())})', zorder=1)
    for color, cls in zip(colors, classes):
        rows = labels == cls
        ax.scatter(points[rows, 0], points[rows, 1], s=14,
                   color=color, linewidths=0, alpha=0.9,
                   label=f'{label_name} {cls}', zorder=2)
    name = METHOD_NAMES.get(method, method)
    ax.set_xlabel(f'{name} 1', fontsize=9)
    ax.set_ylabel(f'{name} 2', fontsize=9)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        handles, texts = ax.get_legend_handles_labels()
        if out.any():  # outliers last
            handles = handles[1:] + handles[:1]
            texts = texts[1:] + texts[:1]
        fig.legend(handles, texts, loc='center right', fontsize=7,
                   markerscale=1.2, frameon=False,
                   ncol=1 if len(texts) <= 21 else 2)
        fig.subplots_adjust(left=0.09, right=0.8, bottom=0.1, top=0.88)
    else:
        fig.subplots_adjust(left=0.09, right=0.97, bottom=0.1, top=0.88)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    return fig


def embed_and_plot(features: np.ndarray,
                   labels: Sequence[int],
                   out_file: str,
                   method: str = 'tsne',
                   perplexity: float = 30.0,
                   seed: int = 0,
                   num_threads: Optional[int] = 1,
                   **plot_kwargs) -> np.ndarray:
    """:func:`compute_embedding` then :func:`plot_embedding`.

    Args:
        features (np.ndarray): ``(N, D)`` features.
        labels (Sequence[int]): ``(N,)`` colour labels, -1 = outlier.
        out_file (str): The image to write.
        method (str): 'tsne' or 'umap'. Defaults to 'tsne'.
        perplexity (float): t-SNE perplexity. Defaults to 30.
        seed (int): Random state. Defaults to 0.
        num_threads (int, optional): See :func:`compute_embedding`.
            Defaults to 1.
        **plot_kwargs: Other :func:`plot_embedding` arguments (``title``,
            ``label_name``, ``figsize``, ``dpi``, ``max_legend``).

    Returns:
        np.ndarray: The ``(N, 2)`` coordinates.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(features):
        raise ValueError(f'{len(features)} feature rows but {len(labels)} '
                         'labels; give one label per row.')
    points = compute_embedding(features, method, perplexity, seed,
                               num_threads)
    plot_embedding(points, labels, out_file, method=method, **plot_kwargs)
    return points
