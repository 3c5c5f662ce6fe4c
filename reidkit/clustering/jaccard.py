"""Sparse k-reciprocal Jaccard distance for pseudo-label clustering.

This is the ``compute_jaccard_distance`` of the unsupervised re-ID research
code (Cluster Contrast and SpCL ``faiss_rerank.py``, OpenUnReID and
fast-reid ``compute_dist.py``; MMT's ``compute_jaccard_dist`` as an option),
computed without any ``N x N`` array. The research code keeps three dense
``N x N`` float32 matrices (0.67 GB each for Market-1501, 4.3 GB each for
MSMT17) and loops over images in Python; here every step is a vectorised
numpy/scipy operation on sparse matrices whose size grows with
``N * k1 * k2`` and with the number of returned pairs:

1. exact kNN (:func:`~reidkit.clustering.knn.knn_search`, blocks of rows);
2. k-reciprocal sets as sparse boolean matrices ``R = A * A^T`` of the kNN
   adjacency ``A``; the 2/3 expansion rule from the sparse product
   ``R(k1) @ R(k1/2)^T`` restricted to the pattern of ``R(k1)``;
3. the encodings ``V`` as a CSR matrix, distances taken from the kNN lists
   or from dot products of the few remaining pairs;
4. local query expansion as the sparse product ``Q @ V``;
5. ``S_ij = sum_k min(V_ik, V_jk)`` by joining each stored ``V_ik`` with
   the column ``k`` of ``V`` (inverted index), only for ``j >= i`` (``S``
   is symmetric), in blocks of rows accumulated with ``np.bincount``;
   pairs whose distance is not below ``max_distance`` are dropped per
   block, and the symmetric CSR result is assembled without a global sort.
"""
import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp
import torch
from mmengine.logging import print_log

from .features import FeatureFile, RowSource, row_source
from .knn import (_dist_rows, _knn_faiss, _knn_torch, default_chunk_size,
                  resolve_backend, row_chunk, sq_norms)

ArrayLike = Union[np.ndarray, torch.Tensor, FeatureFile, RowSource]

_VARIANTS = ('faiss', 'mmt')
# Work bounds of the chunked steps (elements per block).
_JOIN_CONTRIBS = 1 << 19  # (i, j, k) triples of the min-sum join
_JOIN_CELLS = 1 << 19  # rows x N float64 accumulator (4 MB)
_EXPAND_PAIRS = 1 << 20  # entries of the R(k1) @ R(k1/2)^T product
_PAIR_ELEMS = 1 << 25  # gathered feature elements per block of pairs
# The join accumulates a block densely (rows x N) while N is at most this
# many times the mean number of join triples per row; beyond, it sorts the
# triples instead (the dense scan would make the join O(N^2)).
_DENSE_JOIN_FACTOR = 20


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return int(value)


def _row_ids(indptr: np.ndarray) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix (int64)."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def _chunk_bounds(cost: np.ndarray, budget: int, max_rows: int) -> np.ndarray:
    """Row boundaries so that each block's summed cost stays ~ budget.

    Args:
        cost (np.ndarray): ``(N,)`` non-negative work per row.
        budget (int): Target work per block (a single row may exceed it).
        max_rows (int): Most rows per block.

    Returns:
        np.ndarray: Increasing boundaries ``[0, ..., N]``.
    """
    num = len(cost)
    cum = np.concatenate([[0], np.cumsum(cost, dtype=np.int64)])
    bounds = [0]
    while bounds[-1] < num:
        start = bounds[-1]
        stop = int(np.searchsorted(cum, cum[start] + budget, 'right')) - 1
        bounds.append(min(max(stop, start + 1), start + max_rows, num))
    return np.asarray(bounds)


def _pairs(bounds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` of consecutive boundaries."""
    return bounds[:-1], bounds[1:]


def _segment_arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for all pairs (counts >= 1)."""
    total = int(counts.sum())
    out = np.ones(total, dtype=np.int64)
    heads = np.cumsum(counts) - counts
    out[0] = starts[0]
    # jump from the last element of the previous segment to the next start
    out[heads[1:]] = starts[1:] - (starts[:-1] + counts[:-1] - 1)
    return np.cumsum(out, out=out)


def _reciprocal(rank: np.ndarray, k: int) -> sp.csr_matrix:
    """k-reciprocal neighbour sets as a sparse 0/1 matrix.

    ``R[i, j] = 1`` iff ``j`` is among the first ``k`` columns of
    ``rank[i]`` and ``i`` among the first ``k`` columns of ``rank[j]``
    (``k_reciprocal_neigh(initial_rank, i, k - 1)`` of the research code).

    Args:
        rank (np.ndarray): ``(N, K)`` neighbour indices, ``K >= k``.
        k (int): Columns of ``rank`` to use.

    Returns:
        scipy.sparse.csr_matrix: ``(N, N)`` int32 matrix with sorted
        indices.
    """
    num = rank.shape[0]
    adj = sp.csr_matrix((np.ones(num * k, dtype=np.int32), rank[:, :k].ravel(),
                         np.arange(0, num * k + 1, k)),
                        shape=(num, num))
    out = adj.multiply(adj.T).tocsr()
    out.sort_indices()
    return out


def _expanded_sets(r_full: sp.csr_matrix,
                   r_half: sp.csr_matrix) -> sp.csr_matrix:
    """``R*(i)``: ``R(i, k1)`` plus the ``R(c, k1/2)`` passing the 2/3 rule.

    For ``c`` in ``R(i, k1)``, ``R(c, k1/2)`` is added when
    ``|R(c, k1/2) & R(i, k1)| > 2/3 |R(c, k1/2)|`` (the same float
    comparison as the research code).

    Args:
        r_full (scipy.sparse.csr_matrix): ``R(., k1)``.
        r_half (scipy.sparse.csr_matrix): ``R(., round(k1/2))``.

    Returns:
        scipy.sparse.csr_matrix: Pattern of ``R*`` (sorted indices; the
        data are positive counts, not used).
    """
    num = r_full.shape[0]
    size_half = np.diff(r_half.indptr)
    r_half_t = r_half.T.tocsr()
    # work of row i in R(k1) @ R(k1/2)^T: sum over j in R(i) of column
    # counts of R(k1/2)
    col_cnt = np.diff(r_half_t.indptr)
    cost = np.bincount(
        _row_ids(r_full.indptr),
        weights=col_cnt[r_full.indices],
        minlength=num)
    sel_rows, sel_cols = [], []
    for start, stop in zip(*_pairs(_chunk_bounds(cost, _EXPAND_PAIRS, num))):
        block = r_full[start:stop]
        # |R(i, k1) & R(c, k1/2)| for every c, kept on the pattern of R(i)
        inter = (block @ r_half_t).multiply(block).tocsr()
        inter.sort_indices()
        rows = _row_ids(inter.indptr)
        keep = inter.data > 2. / 3 * size_half[inter.indices]
        sel_rows.append(rows[keep] + start)
        sel_cols.append(inter.indices[keep])
    rows, cols = np.concatenate(sel_rows), np.concatenate(sel_cols)
    sel = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                        shape=(num, num))
    out = (r_full + sel @ r_half).tocsr()
    out.sort_indices()
    return out


def _pair_distances(src: RowSource, rows: np.ndarray, cols: np.ndarray,
                    knn_dists: np.ndarray, knn_inds: np.ndarray) -> np.ndarray:
    """Squared distances of the given pairs (float32).

    Pairs that are in the kNN lists reuse the kNN distances; the rest are
    computed as ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` from the gathered rows,
    in blocks (the same way for features in memory and in a file).

    Args:
        src (RowSource): ``(N, D)`` normalised float32 features.
        rows (np.ndarray): Row index of each pair, non-decreasing.
        cols (np.ndarray): Column index of each pair.
        knn_dists (np.ndarray): ``(N, K)`` kNN distances.
        knn_inds (np.ndarray): ``(N, K)`` kNN indices.

    Returns:
        np.ndarray: float32 distances, one per pair.
    """
    num, kk = knn_inds.shape
    order = np.argsort(knn_inds, axis=1)
    knn_keys = (np.arange(num)[:, None] * num +
                np.take_along_axis(knn_inds, order, 1)).ravel()
    knn_vals = np.take_along_axis(knn_dists, order, 1).ravel()
    del order
    keys = rows.astype(np.int64) * num + cols
    pos = np.minimum(np.searchsorted(knn_keys, keys), len(knn_keys) - 1)
    found = knn_keys[pos] == keys
    del keys, knn_keys
    out = np.empty(len(rows), dtype=np.float32)
    out[found] = knn_vals[pos[found]]
    missing = np.flatnonzero(~found)
    # blocks of pairs; each distinct row is read once per block (a pair's
    # row repeats, and from a file every read costs)
    step = max(1, _PAIR_ELEMS // (2 * src.dim))
    for start in range(0, len(missing), step):
        sel = missing[start:start + step]
        u_r, i_r = np.unique(rows[sel], return_inverse=True)
        u_c, i_c = np.unique(cols[sel], return_inverse=True)
        x_r, x_c = src.take(u_r), src.take(u_c)
        sq_r, sq_c = sq_norms(x_r), sq_norms(x_c)
        # sampled dense-dense product on the block's pairs (a CSR pattern:
        # the pairs are sorted by row, and by column within a row)
        crow = np.zeros(len(u_r) + 1, dtype=np.int64)
        np.cumsum(np.bincount(i_r, minlength=len(u_r)), out=crow[1:])
        i_r = torch.from_numpy(i_r).to(x_r.device)
        i_c = torch.from_numpy(i_c).to(x_c.device)
        with warnings.catch_warnings():
            # "sparse CSR support is in beta"
            warnings.simplefilter('ignore', UserWarning)
            pattern = torch.sparse_csr_tensor(
                torch.from_numpy(crow).to(x_r.device),
                i_c,
                torch.zeros(len(sel), dtype=x_r.dtype, device=x_r.device),
                size=(len(u_r), len(u_c)),
                check_invariants=False)
            dot = torch.sparse.sampled_addmm(
                pattern, x_r, x_c.t(), beta=0.).values()
        out[sel] = (sq_r[i_r] + sq_c[i_c] -
                    2 * dot).clamp_(min=0).cpu().numpy()
    return out


def _min_sum_join(enc: sp.csr_matrix,
                  max_distance: float,
                  num_threads: int = 1,
                  dense: Optional[bool] = None
                  ) -> List[Tuple[int, np.ndarray, ...]]:
    """Jaccard distances ``1 - S / (2 - S)`` of all close pairs ``j >= i``.

    ``S_ij = sum_k min(V_ik, V_jk)``. Each stored ``V_ik`` is joined with
    the entries ``V_jk``, ``j >= i``, of column ``k`` (the CSC order of
    ``V`` lists rows ascending, and ``V_ik`` itself sits at a known position
    in it), giving triples ``(i, j, min)``. Blocks of rows (~0.5M triples
    each) sum the triples per pair, either into a dense ``rows x N``
    float64 buffer with ``np.bincount`` (fast while N is small) or, for
    large N, by a stable sort of the pair keys and ``np.add.reduceat``; a
    block keeps the pairs with ``d < max_distance``
    (``S > 2(1 - b) / (2 - b)``). Time ``O(T)`` (dense) or ``O(T log T)``
    (sorted) in the number of triples ``T``; the two sum a pair's triples
    in a different association, so their sums agree to float64 rounding.
    Memory: ``V``, five index arrays of its size and one block.

    Args:
        enc (scipy.sparse.csr_matrix): ``V`` with sorted indices, rows
            summing to 1.
        max_distance (float): Keep pairs with float32 ``d`` below this.
        num_threads (int): Blocks processed at once (numpy releases the
            GIL in the array operations). Defaults to 1.
        dense (bool, optional): Force the dense (True) or sorted (False)
            accumulation. Defaults to None: dense while ``N <= 20`` times
            the mean number of triples per row.

    Returns:
        list[tuple]: One ``(start, counts, cols, dists)`` per block of rows
        ``start, start + 1, ...``: the number of kept pairs of each row,
        their columns (``>= row``, ascending within a row; int32 when
        ``N < 2**31``) and float32 distances, in row-major order.
    """
    num = enc.shape[0]
    nnz = enc.nnz
    small = max(num, nnz) < 2**31
    idx_dtype = np.int32 if small else np.int64
    # CSC position of every CSR entry, via a CSC conversion of 1..nnz
    # (O(nnz) counting sort; keeps explicit entries)
    order = sp.csr_matrix((np.arange(1, nnz + 1), enc.indices, enc.indptr),
                          shape=enc.shape).tocsc()
    csc_indptr = order.indptr.astype(np.int64)
    csr_of_csc = order.data - 1
    del order
    csc_pos = np.empty(nnz, dtype=idx_dtype)
    csc_pos[csr_of_csc] = np.arange(nnz, dtype=idx_dtype)
    entry_rows = _row_ids(enc.indptr).astype(idx_dtype)
    csc_rows = entry_rows[csr_of_csc]
    csc_vals = enc.data[csr_of_csc]
    del csr_of_csc
    # entries of column k from V_ik's own position to the column's end
    counts = (csc_indptr[enc.indices + 1] - csc_pos).astype(idx_dtype)
    row_cost = np.bincount(entry_rows, weights=counts, minlength=num)
    if dense is None:
        dense = num <= _DENSE_JOIN_FACTOR * row_cost.sum() / max(num, 1)
    max_rows = max(1, _JOIN_CELLS // num) if dense else num
    bounds = _chunk_bounds(row_cost, _JOIN_CONTRIBS, max_rows)
    del row_cost
    s_min = 2. * (1. - max_distance) / (2. - max_distance)
    index_dtype = np.int32 if num < 2**31 else np.int64

    def block(start: int, stop: int) -> Tuple[int, np.ndarray, ...]:
        lo, hi = enc.indptr[start], enc.indptr[stop]
        cnt = counts[lo:hi]
        pos = _segment_arange(csc_pos[lo:hi], cnt)
        mins = csc_vals[pos]
        np.minimum(mins, np.repeat(enc.data[lo:hi], cnt), out=mins)
        keys = csc_rows[pos].astype(np.int64)
        del pos
        keys += np.repeat((entry_rows[lo:hi].astype(np.int64) - start) * num,
                          cnt)
        if dense:
            acc = np.bincount(
                keys, weights=mins, minlength=(stop - start) * num)
            del keys, mins
            flat = np.flatnonzero(acc > s_min)
            s = acc[flat]
            del acc
        else:
            perm = np.argsort(keys, kind='stable')
            keys, mins = keys[perm], mins[perm]
            del perm
            heads = np.flatnonzero(
                np.concatenate([[True], keys[1:] != keys[:-1]]))
            s = np.add.reduceat(mins, heads) if len(heads) else mins[:0]
            flat = keys[heads]
            del keys, mins, heads
            keep = s > s_min
            flat, s = flat[keep], s[keep]
        dist = np.maximum(1. - s / (2. - s), 0.).astype(np.float32)
        keep = dist < max_distance
        flat, dist = flat[keep], dist[keep]
        rows = flat // num
        cols = flat - rows * num
        dist[rows + start == cols] = 0
        return (start, np.bincount(rows, minlength=stop - start),
                cols.astype(index_dtype), dist)

    starts, stops = _pairs(bounds)
    if num_threads <= 1 or len(starts) < 2:
        return [block(start, stop) for start, stop in zip(starts, stops)]
    with ThreadPoolExecutor(min(num_threads, len(starts))) as pool:
        return list(pool.map(block, starts, stops))


def _symmetric_csr(blocks: List[Tuple[int, np.ndarray, ...]],
                   num: int) -> sp.csr_matrix:
    """Full symmetric CSR matrix from the upper-triangle blocks.

    Row ``j`` of the result is its mirrored pairs ``(j, i)``, ``i < j``,
    followed by its own pairs ``(j, c)``, ``c >= j``: both parts are
    already sorted (the blocks come in row order), so the rows are placed
    without a global sort. Explicit zeros are kept. ``blocks`` is emptied
    on the way to bound the memory (result plus what is left of it).
    """
    up_cnt = np.concatenate([b[1] for b in blocks])
    low_cnt = np.zeros(num, dtype=np.int64)
    pending, size = [], 0
    for start, cnt, cols, _ in blocks:
        rows = np.repeat(np.arange(start, start + len(cnt)), cnt)
        pending.append(cols[cols != rows])
        size += len(pending[-1])
        if size > _JOIN_CONTRIBS:
            low_cnt += np.bincount(np.concatenate(pending), minlength=num)
            pending, size = [], 0
    if pending:
        low_cnt += np.bincount(np.concatenate(pending), minlength=num)
    del pending
    indptr = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(up_cnt + low_cnt, out=indptr[1:])
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(num, nnz) < 2**31 else np.int64
    indices = np.empty(nnz, dtype=index_dtype)
    data = np.empty(nnz, dtype=np.float32)
    low_next = indptr[:-1].copy()  # next free slot of each row's left part
    up_start = indptr[:-1] + low_cnt
    blocks.reverse()
    while blocks:
        start, cnt, cols, vals = blocks.pop()
        stop = start + len(cnt)
        rows = np.repeat(np.arange(start, stop), cnt)
        first = np.cumsum(cnt) - cnt
        dest = np.repeat(up_start[start:stop] - first, cnt)
        dest += np.arange(len(cols))
        indices[dest] = cols
        data[dest] = vals
        # mirrored pairs, grouped by their row j (stable: i stays sorted)
        strict = cols != rows
        mj = cols[strict]
        order = np.argsort(mj, kind='stable')
        mj = mj[order]
        if not len(mj):
            continue
        heads = np.concatenate([[0], np.flatnonzero(mj[1:] != mj[:-1]) + 1])
        sizes = np.diff(np.append(heads, len(mj)))
        dest = low_next[mj] + np.arange(len(mj)) - np.repeat(heads, sizes)
        indices[dest] = rows[strict][order]
        data[dest] = vals[strict][order]
        low_next[mj[heads]] += sizes
    out = sp.csr_matrix((data, indices, indptr.astype(index_dtype)),
                        shape=(num, num))
    out.has_sorted_indices = True
    return out


def compute_jaccard_distance(
        features: ArrayLike,
        k1: int = 30,
        k2: int = 6,
        max_distance: float = 1.0,
        variant: str = 'faiss',
        knn_backend: str = 'auto',
        progress: bool = False,
        timings: Optional[Dict[str, float]] = None,
        knn_chunk_size: Optional[int] = None,
        approx_knn: Optional[dict] = None) -> sp.csr_matrix:
    """Sparse k-reciprocal Jaccard distance of L2-normalised features.

    Computes exactly the ``compute_jaccard_distance`` of the Cluster
    Contrast / SpCL research code (``variant='faiss'``), returned as a
    sparse matrix that stores every pair with ``d < max_distance``:

    1. ``features`` are L2-normalised; ``initial_rank`` holds each image's
       ``k1`` nearest neighbours (itself first, see
       :func:`~reidkit.clustering.knn.knn_search` for the tie rules).
    2. ``R(i, k)``: ``j`` among the first ``k`` columns of ``rank[i]`` with
       ``i`` among the first ``k`` of ``rank[j]``. As in the research code
       ``R(i, k1)`` uses ``k1`` columns (self included, not ``k1 + 1``) and
       the half set uses ``int(np.around(k1 / 2)) + 1`` columns (numpy's
       round half to even: 15 + 1 for k1=30, 10 + 1 for k1=21).
    3. ``R*(i) = R(i, k1)``, plus ``R(c, k1/2)`` for every ``c`` in
       ``R(i, k1)`` with ``|R(c, k1/2) & R(i, k1)| > 2/3 |R(c, k1/2)|``.
    4. ``V_ij = softmax_{j in R*(i)}(-d_ij)`` with ``d_ij = 2 - 2 f_i.f_j``
       (squared distance, not normalised).
    5. If ``k2 != 1``: ``V_i <- mean(V_j for j in rank[i, :k2])`` (self
       included; ``k2`` is capped at the ``k1`` available columns, as in
       the research code).
    6. ``S_ij = sum_k min(V_ik, V_jk)``, ``d_ij = max(1 - S/(2 - S), 0)``.

    ``variant='mmt'`` follows MMT's ``compute_jaccard_dist``: ``k1 + 1``
    neighbours for ``R(i, k1)``, and weights ``exp(-d_ij / m_i)`` with
    ``m_i`` the largest distance from ``i`` to any image (the column max of
    MMT's distance matrix), normalised per row (no source-domain term). MMT
    calls it with ``k1=20, k2=6``. The two variants give different
    distances; DBSCAN ``eps`` values do not transfer.

    **Output.** A symmetric ``(N, N)`` ``scipy.sparse.csr_matrix`` with
    float32 values and sorted indices. It stores exactly the pairs whose
    float32 distance is ``< max_distance`` (with the default 1.0: every
    pair sharing at least one non-zero of ``V``); the diagonal is stored as
    explicit zeros, exact duplicates may give other explicit zeros, and
    ``eliminate_zeros`` must not be called on it. A missing entry means
    ``d >= max_distance`` (``d = 1`` when ``max_distance=1``). Hence
    ``sklearn.cluster.DBSCAN(eps, metric='precomputed')`` with
    ``eps < max_distance`` gives the labels of the dense matrix; the
    re-clustering hook passes ``max_distance = eps + margin``.

    **Memory** (never ``N x N``): ``O(N * k1 * k2)`` for the sparse sets
    and encodings (``V`` has about ``N * k2 * |R*|`` non-zeros, float64),
    blocks of at most ~0.5M join triples with a 4 MB accumulator, the kNN
    blocks, and the output (8 bytes per stored pair, plus 8 per pair of
    the upper triangle while it is assembled; typically tens of pairs per
    row with ``max_distance < 1``, thousands with 1.0). Weights and sums
    are computed in float64 from float32 distances; the result matches the
    float32 research code to ~1e-6.

    **Features out of core.** ``features`` may be a
    :class:`~reidkit.clustering.features.FeatureFile`: the kNN reads it in
    blocks and the encodings gather the few rows they need, so the
    ``N x D`` matrix is never held (same result as in memory, bit for
    bit).

    **Time.** The exact kNN (``O(N^2 D)``) dominates; ``approx_knn``
    replaces it by an inverted-file search
    (:func:`~reidkit.clustering.ivf.ivf_knn`). The rest costs
    ``O(T)`` for the join's ``T = sum_k c_k^2 / 2`` triples (``c_k`` the
    number of non-zeros in column ``k`` of ``V``), with a dense
    accumulator while N is small and a sort (``O(T log T)``) beyond, so
    nothing grows as ``N^2``. The join runs on ``torch.get_num_threads()``
    threads.

    Args:
        features (np.ndarray | torch.Tensor): ``(N, D)`` features (numpy,
            or a torch tensor on CPU or CUDA; the kNN then runs there).
        k1 (int): k-reciprocal neighbourhood size. Defaults to 30.
        k2 (int): Neighbours for local query expansion; 1 disables it.
            Defaults to 6.
        max_distance (float): Store only pairs with distance below this,
            in ``(0, 1]``. Defaults to 1.0 (all non-trivial pairs).
        variant (str): ``'faiss'`` (CC/SpCL/OpenUnReID/fast-reid) or
            ``'mmt'``. Defaults to ``'faiss'``.
        knn_backend (str): ``'auto'``, ``'faiss'`` or ``'torch'``, see
            :func:`~reidkit.clustering.knn.knn_search`. Defaults to
            ``'auto'``.
        progress (bool): Log the time of each stage with ``print_log``.
            Defaults to False.
        timings (dict, optional): If given, filled with seconds per stage:
            ``'knn'`` (with ``approx_knn`` also its parts ``'knn_train'``,
            ``'knn_assign'`` and ``'knn_search'``), ``'reciprocal'`` (sets
            and expansion), ``'encode'``
            (``V``), ``'query_expansion'``, ``'min_sum'`` (join and
            output), ``'jaccard'`` (everything after the kNN) and
            ``'total'``. Defaults to None.
        knn_chunk_size (int, optional): Block edge of the kNN search.
            Defaults to :func:`~reidkit.clustering.knn.default_chunk_size`.
        approx_knn (dict, optional): Approximate kNN instead of the exact
            search, e.g. ``dict(type='ivf', nlist=4096, nprobe=16)`` (see
            :func:`~reidkit.clustering.ivf.ivf_knn`); ``variant='faiss'``
            only. Defaults to None (exact).

    Returns:
        scipy.sparse.csr_matrix: ``(N, N)`` float32 Jaccard distances.

    Raises:
        ValueError: For non-2-D, empty or non-finite features, ``k1 < 1``,
            ``k2 < 1``, ``max_distance`` outside ``(0, 1]`` or an unknown
            ``variant``/``knn_backend``.

    Examples:
        >>> from sklearn.cluster import DBSCAN
        >>> feats = np.random.randn(500, 64).astype(np.float32)
        >>> dist = compute_jaccard_distance(feats, k1=30, k2=6,
        ...                                 max_distance=0.62)
        >>> labels = DBSCAN(eps=0.6, min_samples=4,
        ...                 metric='precomputed').fit_predict(dist)
    """
    k1 = _check_positive_int(k1, 'k1')
    k2 = _check_positive_int(k2, 'k2')
    if not 0 < max_distance <= 1:
        raise ValueError(
            f'max_distance must be in (0, 1], got {max_distance!r}')
    if variant not in _VARIANTS:
        raise ValueError(
            f'variant must be one of {_VARIANTS}, got {variant!r}')
    if approx_knn is not None and variant == 'mmt':
        raise ValueError(
            "approx_knn works with variant='faiss' only: the 'mmt' variant "
            "weighs distances by every image's largest distance to any "
            'image, an exact N x N pass.')
    if approx_knn is not None:
        from .ivf import build_approx_knn
        knn_stats: Dict[str, float] = {}
        approx_search = build_approx_knn(dict(approx_knn, stats=knn_stats))
    backend = resolve_backend(knn_backend, features)
    src = row_source(features, normalize=True)
    num = src.num
    if num <= k1:
        print_log(
            f'compute_jaccard_distance: only {num} images for k1={k1}; '
            f'every k-reciprocal set is capped at the {num} images, so the '
            'distances are coarse. Use a smaller k1 for so few images.',
            logger='current',
            level=logging.WARNING)
    if timings is None:
        timings = {}
    chunk = default_chunk_size(num) if knn_chunk_size is None else (
        _check_positive_int(knn_chunk_size, 'knn_chunk_size'))

    def log(msg):
        if progress:
            print_log(msg, logger='current')

    # numbers of rank columns, as in the research code (see docstring)
    k_half = int(np.around(k1 / 2.))
    if variant == 'faiss':
        k_full = min(k1, num)
        k_rank = k_full
    else:
        k_full = min(k1 + 1, num)
        k_rank = min(max(k1 + 1, k2), num)
    k_half = min(k_half + 1, k_full)
    k_qe = min(k2, k_rank)

    t_start = t0 = time.perf_counter()
    knn_name = backend if approx_knn is None else approx_knn['type']
    log(f'Jaccard distance ({variant}): N={num}, D={src.dim}, k1={k1}, '
        f'k2={k2}, max_distance={max_distance}, kNN {knn_name}'
        f'{"" if src.in_memory else ", features read from a file"}')
    row_max = None
    if approx_knn is not None:
        dists, rank = approx_search(
            src, k_rank, chunk_size=chunk, progress=progress)
        dists, rank = dists.cpu().numpy(), rank.cpu().numpy()
        timings.update({f'knn_{key}': knn_stats[key]
                        for key in ('train', 'assign', 'search')})
    elif backend == 'faiss':
        dists, rank = _knn_faiss(src, k_rank, chunk)
    else:
        out = _knn_torch(src, k_rank, chunk, with_max=variant == 'mmt')
        dists, rank = out[0].cpu().numpy(), out[1].cpu().numpy()
        row_max = out[2] if variant == 'mmt' else None
    if variant == 'mmt':
        if row_max is None:
            row_max = _row_max_distance(src, chunk)
        row_max = row_max.cpu().numpy().astype(np.float64)
        row_max[row_max == 0] = 1
    timings['knn'] = time.perf_counter() - t0
    log(f'  kNN: {timings["knn"]:.2f}s')

    t0 = time.perf_counter()
    r_full = _reciprocal(rank, k_full)
    r_half = r_full if k_half == k_full else _reciprocal(rank, k_half)
    r_star = _expanded_sets(r_full, r_half)
    del r_full, r_half
    timings['reciprocal'] = time.perf_counter() - t0
    log(f'  k-reciprocal sets: {timings["reciprocal"]:.2f}s, '
        f'{r_star.nnz / num:.1f} expanded neighbours per image')

    t0 = time.perf_counter()
    rows = _row_ids(r_star.indptr)
    dist = _pair_distances(src, rows, r_star.indices, dists,
                           rank).astype(np.float64)
    if variant == 'mmt':
        dist /= row_max[rows]
    weight = np.exp(-dist)
    weight /= np.bincount(rows, weights=weight, minlength=num)[rows]
    enc = sp.csr_matrix((weight, r_star.indices, r_star.indptr),
                        shape=(num, num))
    del rows, dist, weight, r_star, dists
    timings['encode'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if k2 != 1 and k_qe > 1:
        qe = sp.csr_matrix(
            (np.full(num * k_qe, 1. / k_qe), rank[:, :k_qe].ravel(),
             np.arange(0, num * k_qe + 1, k_qe)),
            shape=(num, num))
        enc = (qe @ enc).tocsr()
        del qe
    enc.sort_indices()
    del rank
    timings['query_expansion'] = time.perf_counter() - t0
    log(f'  encodings: {timings["encode"]:.2f}s, query expansion: '
        f'{timings["query_expansion"]:.2f}s, {enc.nnz / num:.1f} non-zeros '
        'per row')

    t0 = time.perf_counter()
    blocks = _min_sum_join(enc, float(max_distance),
                           torch.get_num_threads())
    del enc
    out = _symmetric_csr(blocks, num)
    timings['min_sum'] = time.perf_counter() - t0
    timings['total'] = time.perf_counter() - t_start
    timings['jaccard'] = timings['total'] - timings['knn']
    log(f'  min-sum join: {timings["min_sum"]:.2f}s, {out.nnz / num:.1f} '
        f'stored pairs per row; Jaccard total {timings["total"]:.2f}s')
    return out


def _row_max_distance(src: RowSource, chunk_size: int) -> torch.Tensor:
    """Largest squared distance from every row to any row (blocked)."""
    out = torch.empty(src.num, dtype=torch.float32, device=src.device)
    step = row_chunk(src.num, chunk_size)
    for start in range(0, src.num, step):
        rows = torch.arange(start, min(start + step, src.num),
                            device=src.device)
        dist = _dist_rows(src, rows, chunk_size)
        out[start:start + len(rows)] = dist.max(1).values.clamp_(min=0)
    return out
