"""Statistics and quality of pseudo labels (clusters with -1 outliers)."""
from typing import Dict

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

#: Upper bounds of the cluster-size histogram bins (sizes 1, 2-3, 4-7, ...).
SIZE_BINS = (1, 3, 7, 15, 31, 63, 127)


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f'labels must be 1-D, got shape {labels.shape}.')
    if labels.size and labels.min() < -1:
        raise ValueError('labels must be >= 0, or -1 for outliers; got '
                         f'{labels.min()}.')
    return labels.astype(np.int64)


def cluster_statistics(labels) -> Dict[str, float]:
    """Number of clusters, outliers and the cluster-size distribution.

    Args:
        labels (array-like): N labels, -1 = outlier.

    Returns:
        dict: ``num_clusters``, ``num_outliers``, ``outlier_ratio``,
        ``size_min``, ``size_median``, ``size_mean``, ``size_max``,
        ``largest_ratio`` (share of the clustered images in the largest
        cluster) and ``size_hist`` (a dict ``{'1': n, '2-3': n, ...,
        '>=128': n}`` of cluster counts).
    """
    labels = _check_labels(labels)
    n = len(labels)
    clustered = labels[labels >= 0]
    sizes = np.bincount(clustered) if clustered.size else np.zeros(0, int)
    sizes = sizes[sizes > 0]
    hist, low = {}, 1
    for high in SIZE_BINS:
        key = str(low) if low == high else f'{low}-{high}'
        hist[key] = int(((sizes >= low) & (sizes <= high)).sum())
        low = high + 1
    hist[f'>={low}'] = int((sizes >= low).sum())
    has = len(sizes) > 0
    return dict(
        num_clusters=int(len(sizes)),
        num_outliers=int(n - clustered.size),
        outlier_ratio=float((n - clustered.size) / n) if n else 0.0,
        size_min=int(sizes.min()) if has else 0,
        size_median=float(np.median(sizes)) if has else 0.0,
        size_mean=float(sizes.mean()) if has else 0.0,
        size_max=int(sizes.max()) if has else 0,
        largest_ratio=float(sizes.max() / clustered.size) if has else 0.0,
        size_hist=hist)


def _outliers_as_singletons(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    outliers = np.flatnonzero(out < 0)
    out[outliers] = out.max(initial=-1) + 1 + np.arange(len(outliers))
    return out


def pseudo_label_quality(pred, gt) -> Dict[str, float]:
    """How well pseudo labels ``pred`` recover the identities ``gt``.

    Each outlier (-1 in ``pred``) counts as its own singleton cluster, so
    dropping images into the outliers is not free: it lowers the recall and
    the NMI/ARI.

    Pairwise scores count the image pairs that share a cluster
    (``precision`` = the fraction of those that share an identity) and the
    pairs that share an identity (``recall`` = the fraction of those that
    share a cluster).

    Args:
        pred (array-like): N pseudo labels, -1 = outlier.
        gt (array-like): N ground-truth identities (non-negative).

    Returns:
        dict: ``nmi``, ``ari``, ``pairwise_precision``, ``pairwise_recall``
        and ``pairwise_f1`` (fractions in [0, 1]).
    """
    pred = _check_labels(pred)
    gt = np.asarray(gt, dtype=np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f'pred and gt must have the same length, got '
                         f'{pred.shape} and {gt.shape}.')
    if gt.size and gt.min() < 0:
        raise ValueError('gt identities must be >= 0; drop unlabelled '
                         'images before measuring pseudo-label quality.')
    pred = _outliers_as_singletons(pred)
    cont = contingency_matrix(gt, pred, sparse=True)

    def pairs(counts: np.ndarray) -> float:
        counts = np.asarray(counts, dtype=np.float64)
        return float((counts * (counts - 1) / 2).sum())

    together = pairs(cont.data)
    in_cluster = pairs(np.asarray(cont.sum(axis=0)).ravel())
    same_id = pairs(np.asarray(cont.sum(axis=1)).ravel())
    precision = together / in_cluster if in_cluster else 0.0
    recall = together / same_id if same_id else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    return dict(
        nmi=float(normalized_mutual_info_score(gt, pred)),
        ari=float(adjusted_rand_score(gt, pred)),
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=f1)
