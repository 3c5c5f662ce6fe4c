"""Choosing DBSCAN's ``eps`` for Jaccard distances on new data.

Two rules, both on the k-reciprocal Jaccard distance of
:func:`reidkit.clustering.jaccard.compute_jaccard_distance`:

* the **k-distance heuristic** (:func:`k_distance`, used by
  :func:`suggest_eps`): a point is a DBSCAN core point iff its
  ``(min_samples - 1)``-th nearest *other* point lies within ``eps``
  (``min_samples`` counts the point itself). So ``eps`` = the q-quantile of
  those distances makes a fraction ``q`` of the points core points, and at
  most ``1 - q`` of them outliers;
* **MMT's automatic eps** (:func:`mmt_eps`): the mean of the smallest
  ``rho = 1.6e-3`` fraction of the non-zero strict-upper-triangle
  distances.
"""
import numbers
from typing import Dict, Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp
import torch

from .base import as_features
from .jaccard import compute_jaccard_distance

__all__ = ['k_distance', 'mmt_eps', 'suggest_eps']

#: MMT's ``--rho`` (``mmt_train_dbscan.py``).
MMT_RHO = 1.6e-3

DistanceLike = Union[np.ndarray, torch.Tensor, sp.spmatrix, sp.sparray]


def _as_distance(dist: DistanceLike):
    """A checked square CSR matrix (float, canonical) or float64 ndarray."""
    if sp.issparse(dist):
        dist = sp.csr_matrix(dist)  # no copy for a CSR matrix
        if not np.issubdtype(dist.dtype, np.floating):
            dist = dist.astype(np.float64)
        if not dist.has_canonical_format:  # duplicate entries are summed
            dist = dist.copy()
            dist.sum_duplicates()
    else:
        if isinstance(dist, torch.Tensor):
            dist = dist.detach().cpu().numpy()
        dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError('A distance matrix must be square (N x N), got '
                         f'shape {dist.shape}.')
    if dist.shape[0] == 0:
        raise ValueError('The distance matrix is empty (N = 0).')
    values = dist.data if sp.issparse(dist) else dist
    if not np.isfinite(values).all():
        raise ValueError('The distance matrix contains NaN or inf.')
    if values.size and values.min() < 0:
        raise ValueError('Distances must be >= 0, got '
                         f'{values.min():g}.')
    return dist


def _check_missing_value(dist, missing_value: float) -> None:
    if sp.issparse(dist) and dist.nnz and dist.data.max() > missing_value:
        raise ValueError(
            f'The sparse matrix stores distances up to {dist.data.max():g} '
            f'but missing_value={missing_value:g}; a missing entry must '
            'mean a distance >= every stored one (for the Jaccard matrix '
            'use missing_value=1.0, or the max_distance it was computed '
            'with).')


def k_distance(dist: DistanceLike,
               k: int = 4,
               missing_value: float = 1.0) -> np.ndarray:
    """Distance from every point to its ``(k - 1)``-th nearest other point.

    With ``k = min_samples``, point i is a DBSCAN core point iff
    ``k_distance(dist, k)[i] <= eps``.

    Args:
        dist (ndarray | Tensor | scipy.sparse matrix): N x N distances. A
            sparse matrix's missing entries count as ``missing_value``
            (stored zeros are real zero distances); the diagonal is
            ignored.
        k (int): DBSCAN's ``min_samples`` (counts the point itself), >= 2.
            Defaults to 4.
        missing_value (float): The distance of a missing sparse entry.
            Defaults to 1.0 (the largest Jaccard distance).

    Returns:
        ndarray: N float64 distances; ``missing_value`` where a point has
        fewer than ``k - 1`` other points stored.
    """
    if (not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 2):
        raise ValueError(
            f'k (= min_samples) must be an integer >= 2, got {k!r}; with '
            'min_samples=1 every point is a core point and eps does not '
            'decide outliers.')
    dist = _as_distance(dist)
    _check_missing_value(dist, missing_value)
    n = dist.shape[0]
    if not sp.issparse(dist):
        d = dist.copy()
        np.fill_diagonal(d, np.inf)
        if k - 1 > n - 1:
            return np.full(n, float(missing_value))
        return np.partition(d, k - 2, axis=1)[:, k - 2]
    coo = dist.tocoo()
    off = coo.row != coo.col
    rows, data = coo.row[off], coo.data[off]
    order = np.lexsort((data, rows))
    rows, data = rows[order], data[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    out = np.full(n, float(missing_value))
    has = counts >= k - 1
    out[has] = data[starts[has] + k - 2]
    return out


def mmt_eps(dist: DistanceLike,
            rho: float = MMT_RHO,
            missing_value: float = 1.0) -> float:
    """MMT's automatic DBSCAN eps (``mmt_train_dbscan.py``).

    Take the strict upper triangle of the distance matrix, drop the zeros,
    sort ascending and return the mean of the smallest
    ``round(rho * count)`` values (at least one value: the research code
    would return NaN for a tiny set).

    For a sparse matrix the pairs that are not stored count as
    ``missing_value``; they take part in ``count``, as the dense matrix's
    1.0 entries do in MMT. So compute the Jaccard matrix with
    ``max_distance=1.0`` for this rule.

    Args:
        dist (ndarray | Tensor | scipy.sparse matrix): N x N distances.
        rho (float): The fraction, in (0, 1]. Defaults to 1.6e-3.
        missing_value (float): The distance of a missing sparse entry.
            Defaults to 1.0.

    Returns:
        float: eps.
    """
    if not 0 < rho <= 1:
        raise ValueError(f'rho must be in (0, 1], got {rho}.')
    dist = _as_distance(dist)
    _check_missing_value(dist, missing_value)
    n = dist.shape[0]
    if n < 2:
        raise ValueError('The automatic eps needs at least 2 points, got '
                         f'{n}.')
    if sp.issparse(dist):
        rows = np.repeat(np.arange(n), np.diff(dist.indptr))
        upper = dist.data[dist.indices > rows]
        del rows
        positive = np.sort(upper[upper > 0]).astype(np.float64)
        # Pairs that are not stored are at missing_value (> 0: they count).
        num_missing = n * (n - 1) // 2 - upper.size if missing_value > 0 else 0
        count = positive.size + num_missing
    else:
        positive = dist[np.triu_indices(n, k=1)]
        positive = np.sort(positive[positive > 0])
        count, num_missing = positive.size, 0
    if count == 0:
        raise ValueError('Every pairwise distance is zero: the automatic '
                         'eps is undefined (are all features identical?).')
    top = max(1, int(np.round(rho * count)))
    smallest = positive[:top]
    pad = top - smallest.size  # only with missing entries
    total = smallest.sum() + pad * float(missing_value)
    return float(total / top)


def suggest_eps(
    features_or_dist: DistanceLike,
    k: int = 4,
    quantile: float = 0.9,
    k1: int = 30,
    k2: int = 6,
    rho: float = MMT_RHO,
    jaccard_variant: str = 'faiss',
    knn_backend: str = 'auto',
    precomputed: Optional[bool] = None,
    missing_value: float = 1.0,
    quantiles: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                                  0.9, 0.95, 0.99),
    eps_grid: Sequence[float] = (0.4, 0.5, 0.6, 0.7)
) -> Dict[str, object]:
    """Suggest a DBSCAN eps for new data (k-distance heuristic + MMT rule).

    Computes the k-reciprocal Jaccard distance of the features (with
    ``max_distance=1.0``; or takes a precomputed distance matrix), then
    each point's distance to its ``(k - 1)``-th nearest other point
    (:func:`k_distance`, ``k = min_samples``). ``eps`` is the
    ``quantile`` of that distribution: about ``quantile`` of the points
    become DBSCAN core points and at most ``1 - quantile`` outliers (border
    points are not outliers). The returned table of quantiles is the
    sorted k-distance curve: look for its knee. ``eps_mmt`` is MMT's rule
    (:func:`mmt_eps`). Both are starting points: check the resulting
    number of clusters and outlier ratio.

    Jaccard eps values depend on ``k1``, ``k2`` and ``jaccard_variant``
    (the faiss and MMT variants are not interchangeable), so compute the
    suggestion with the settings the clusterer will use.

    Args:
        features_or_dist (ndarray | Tensor | scipy.sparse matrix): N x D
            features (L2-normalised here) or an N x N distance matrix.
        k (int): DBSCAN's ``min_samples``. Defaults to 4.
        quantile (float): The k-distance quantile suggested as eps, in
            (0, 1). Defaults to 0.9 (a project choice, not from the
            papers).
        k1 (int): Jaccard k1. Defaults to 30.
        k2 (int): Jaccard k2. Defaults to 6.
        rho (float): MMT's fraction. Defaults to 1.6e-3.
        jaccard_variant (str): 'faiss' or 'mmt'. Defaults to 'faiss'.
        knn_backend (str): Passed to the Jaccard distance. Defaults to
            'auto'.
        precomputed (bool, optional): Whether the input is a distance
            matrix. ``None`` guesses: a sparse matrix, or a square,
            symmetric, zero-diagonal matrix with values in [0, 1], is a
            distance matrix; anything else is features. Defaults to None.
        missing_value (float): The distance of a missing entry of a sparse
            distance matrix. Defaults to 1.0.
        quantiles (sequence of float): The k-distance quantiles to report.
        eps_grid (sequence of float): eps values for which to report the
            fraction of core points.

    Returns:
        dict: ``eps`` (the suggestion), ``eps_mmt``, ``k``, ``quantile``,
        ``rho``, ``num_samples``, ``kdist_quantiles`` (``{q: distance}``)
        and ``core_fraction`` (``{eps: fraction of core points}``).

    Examples:
        >>> from reidkit.clustering import suggest_eps
        >>> out = suggest_eps(features, k=4)  # features: N x D
        >>> out['eps'], out['eps_mmt'], out['kdist_quantiles']
    """
    if not 0 < quantile < 1:
        raise ValueError(f'quantile must be in (0, 1), got {quantile}.')
    if precomputed is None:
        precomputed = _looks_like_distance(features_or_dist)
    if precomputed:
        dist = _as_distance(features_or_dist)
    else:
        # Checked here; compute_jaccard_distance L2-normalises them.
        feats = as_features(
            features_or_dist, normalize=False, keep_device=True)
        dist = compute_jaccard_distance(
            feats,
            k1=k1,
            k2=k2,
            max_distance=1.0,
            variant=jaccard_variant,
            knn_backend=knn_backend)
        missing_value = 1.0
    kdist = k_distance(dist, k=k, missing_value=missing_value)
    return dict(
        eps=float(np.quantile(kdist, quantile)),
        eps_mmt=mmt_eps(dist, rho=rho, missing_value=missing_value),
        k=int(k),
        quantile=float(quantile),
        rho=float(rho),
        num_samples=int(dist.shape[0]),
        kdist_quantiles={
            float(q): float(v)
            for q, v in zip(quantiles, np.quantile(kdist, list(quantiles)))
        },
        core_fraction={float(e): float((kdist <= e).mean())
                       for e in eps_grid})


def _looks_like_distance(x) -> bool:
    if sp.issparse(x):
        return True
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if (x.ndim != 2 or x.shape[0] != x.shape[1] or x.shape[0] == 0
            or not np.issubdtype(x.dtype, np.number)):
        return False
    x = x.astype(np.float64)
    return bool(
        np.isfinite(x).all() and np.all(np.diag(x) == 0) and x.min() >= 0
        and x.max() <= 1 and np.allclose(x, x.T))
