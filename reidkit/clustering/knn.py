"""k-nearest-neighbour search for clustering (exact: faiss or torch).

:func:`knn_search` returns, for every row of an ``(N, D)`` feature matrix,
its ``k`` nearest rows (itself included) under the squared Euclidean
distance, which for L2-normalised features equals ``2 - 2 cos``. It never
builds an ``N x N`` array: both backends work on blocks of rows, and the
torch backend reads features kept in a file
(:class:`~reidkit.clustering.features.FeatureFile`) block by block. The
approximate (inverted-file) search is in :mod:`reidkit.clustering.ivf`.

Neighbour lists are made deterministic so that both backends, and any
reference code that follows the same rules, see the same lists:

* each row's own index is always in column 0 with distance exactly 0, even
  when exact duplicates of the row exist (the research code relies on
  "self at column 0"; with more than ``k`` duplicates a plain search may
  drop the row from its own list);
* the other neighbours follow in ascending ``(distance, index)`` order, so
  exact ties (duplicates) are broken by the smaller index, also at the
  cut-off: rows whose ``k``-th and ``k+1``-th distances are equal are
  re-ranked over the full row.

Distances are computed in float32 as ``|x|^2 + |y|^2 - 2 x.y`` and clamped
at 0. The backends agree up to float32 rounding: the order of two
neighbours whose distances differ by ~1e-7 may differ between them.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch

from .features import FeatureFile, RowSource, row_source

ArrayLike = Union[np.ndarray, torch.Tensor, FeatureFile, RowSource]

# Edge of the blocks of the distance matrix (16 MB of float32).
_BLOCK_ROWS = 2048
# Elements of a (rows x N) block of the distance matrix (64 MB of float32).
_ROW_BLOCK_ELEMS = 1 << 24
# Elements of the temporaries of element-wise passes over the features.
_TEMP_ELEMS = 1 << 20
_BACKENDS = ('auto', 'faiss', 'torch')


def sq_norms(x: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of every row, computed in row blocks (no ``N x D``
    temporary)."""
    step = max(1, _TEMP_ELEMS // x.shape[1])
    if x.shape[0] <= step:
        return torch.linalg.vecdot(x, x)
    return torch.cat([
        torch.linalg.vecdot(x[i:i + step], x[i:i + step])
        for i in range(0, x.shape[0], step)
    ])


def default_chunk_size(num: int) -> int:
    """Default block edge: 2048 rows, fewer for small inputs.

    Args:
        num (int): Number of rows ``N``.

    Returns:
        int: Rows per block, at least 1.
    """
    return int(max(1, min(num, _BLOCK_ROWS)))


def row_chunk(num: int, chunk_size: int) -> int:
    """Rows per block for ``rows x N`` blocks: at most ``chunk_size`` and
    at most 16M elements (64 MB of float32)."""
    return int(max(1, min(chunk_size, _ROW_BLOCK_ELEMS // num)))


def _sort_rows(vals: torch.Tensor,
               idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sort every row by ``(value, index)`` (two stable sorts)."""
    idx, order = idx.sort(dim=1, stable=True)
    vals = vals.gather(1, order)
    vals, order = vals.sort(dim=1, stable=True)
    return vals, idx.gather(1, order)


def _dist_rows(src: RowSource, rows: torch.Tensor,
               chunk_size: int) -> torch.Tensor:
    """Squared distances of ``rows`` to all rows, self set to -1.

    The columns are computed in blocks of ``chunk_size`` rows read from
    ``src``, the same way for features in memory and in a file.
    """
    xr = src.take(rows)
    sq_r = sq_norms(xr)
    parts = []
    for start, block in src.chunks(chunk_size):
        dist = torch.addmm(sq_r[:, None], xr, block.t(), alpha=-2)
        parts.append(dist.add_(sq_norms(block)[None]).clamp_(min=0))
    dist = torch.cat(parts, 1)
    dist[torch.arange(len(rows), device=dist.device), rows] = -1
    return dist


def _finalize(src: RowSource, vals: torch.Tensor, idx: torch.Tensor, k: int,
              chunk_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Turn exact top-``kk`` candidates into the final neighbour lists.

    Args:
        src (RowSource): The ``(N, D)`` features.
        vals (torch.Tensor): ``(N, kk)`` candidate distances,
            ``kk = min(k + 1, N)``: the ``kk`` smallest values of every row
            (as a multiset, before clamping at 0), self included; ``inf``
            where a search found fewer than ``kk`` candidates.
        idx (torch.Tensor): ``(N, kk)`` candidate indices (-1 where
            unfilled).
        k (int): Neighbours to keep, ``k <= kk``.
        chunk_size (int): Rows per block when re-ranking tied rows.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(N, k)`` distances (self at
        column 0 with distance 0) and int64 indices, sorted by
        ``(distance, index)``.
    """
    is_self = idx == torch.arange(len(idx), device=idx.device)[:, None]
    vals = vals.clamp(min=0).masked_fill_(is_self, -1)
    vals, idx = _sort_rows(vals, idx)
    if vals.shape[1] > k:
        # The candidates are exact as a multiset of values, but which of
        # several equal values at the cut-off were kept is arbitrary:
        # re-rank those rows over the whole row (a stable sort keeps index
        # order among equal distances). Rows an approximate search left
        # with fewer than kk candidates (inf == inf) are searched exactly
        # this way too.
        tied = torch.nonzero(vals[:, k - 1] == vals[:, k]).flatten()
        if len(tied):
            step = row_chunk(src.num, chunk_size)
            for start in range(0, len(tied), step):
                sel = tied[start:start + step]
                v, i = _dist_rows(src, sel, chunk_size).sort(
                    dim=1, stable=True)
                vals[sel, :k] = v[:, :k]
                idx[sel, :k] = i[:, :k]
        vals, idx = vals[:, :k], idx[:, :k]
    vals = vals.contiguous()
    vals[:, 0] = 0
    return vals, idx.contiguous()


def _merge_topk(best_v: torch.Tensor, best_i: torch.Tensor,
                rows: Union[slice, torch.Tensor], dist: torch.Tensor,
                cols: Union[int, torch.Tensor]) -> None:
    """Merge a block of distances into the running candidates of ``rows``.

    Args:
        best_v (torch.Tensor): ``(N, kk)`` running smallest distances
            (``inf`` where not filled yet), updated in place.
        best_i (torch.Tensor): ``(N, kk)`` their indices, updated in place.
        rows (slice | torch.Tensor): The images of the block's rows.
        dist (torch.Tensor): ``(B, C)`` distances of ``rows`` to the
            images of the block's columns.
        cols (int | torch.Tensor): The image of the first column (the
            columns are consecutive images), or of every column.
    """
    kk = best_v.shape[1]
    cur_v = best_v[rows]
    v, i = dist.topk(
        min(kk, dist.shape[1]), dim=1, largest=False, sorted=False)
    cand_v = torch.cat([cur_v, v], 1)
    i = i.add_(cols) if isinstance(cols, int) else cols[i]
    cand_i = torch.cat([best_i[rows], i], 1)
    v, pos = cand_v.topk(kk, dim=1, largest=False, sorted=False)
    best_v[rows] = v
    best_i[rows] = cand_i.gather(1, pos)


def _knn_torch(src: RowSource,
               k: int,
               chunk_size: int,
               with_max: bool = False) -> Tuple[torch.Tensor, ...]:
    """Exact kNN with blocked torch matmul (CPU or CUDA).

    The distance matrix is symmetric, so only the blocks on and above the
    diagonal are computed (half the matmul work of a plain search); each
    block updates the running top-``(k+1)`` candidates of both its row and
    its column images. Features in a file are read in super-blocks of
    ~256 MB (a multiple of ``chunk_size`` rows), each pair of super-blocks
    once; the ``chunk_size`` blocks, and so the results, are the same as
    in memory.

    Args:
        src (RowSource): ``(N, D)`` float32 features.
        k (int): Neighbours per row, ``1 <= k <= N``.
        chunk_size (int): Block edge (rows and columns per block).
        with_max (bool): Also return every row's largest distance to any
            row (from the same blocks). Defaults to False.

    Returns:
        tuple: ``(dists, indices)`` as ``(N, k)`` tensors on the features'
        device, plus the ``(N,)`` row maxima if ``with_max``.
    """
    num = src.num
    kk = min(k + 1, num)
    dev = src.device
    best_v = torch.full((num, kk), float('inf'), device=dev)
    best_i = torch.zeros((num, kk), dtype=torch.int64, device=dev)
    row_max = torch.zeros(num, device=dev)
    step = src.block_rows(chunk_size)
    for s_a in range(0, num, step):
        xa = src.read(s_a, s_a + step)
        sq_a = sq_norms(xa)
        for s_b in range(s_a, num, step):
            if s_b == s_a:
                xb, sq_b = xa, sq_a
            else:
                xb = src.read(s_b, s_b + step)
                sq_b = sq_norms(xb)
            for a0 in range(0, len(xa), chunk_size):
                la = slice(a0, min(a0 + chunk_size, len(xa)))
                rows_a = slice(s_a + la.start, s_a + la.stop)
                first_b = a0 if s_b == s_a else 0
                for b0 in range(first_b, len(xb), chunk_size):
                    lb = slice(b0, min(b0 + chunk_size, len(xb)))
                    rows_b = slice(s_b + lb.start, s_b + lb.stop)
                    diagonal = rows_a.start == rows_b.start
                    # |a|^2 + |b|^2 - 2 a.b, not clamped at 0 yet (clamping
                    # is monotone, so it can wait for the final candidates)
                    dist = torch.addmm(
                        sq_a[la, None], xa[la], xb[lb].t(), alpha=-2)
                    dist.add_(sq_b[None, lb])
                    if with_max:
                        row_max[rows_a] = torch.maximum(
                            row_max[rows_a],
                            dist.max(1).values)
                        row_max[rows_b] = torch.maximum(
                            row_max[rows_b],
                            dist.max(0).values)
                    if diagonal:
                        dist.diagonal().fill_(-2)  # self first
                    _merge_topk(best_v, best_i, rows_a, dist, rows_b.start)
                    if not diagonal:
                        _merge_topk(best_v, best_i, rows_b, dist.t(),
                                    rows_a.start)
    dists, inds = _finalize(src, best_v, best_i, k, chunk_size)
    if with_max:
        return dists, inds, row_max.clamp_(min=0)
    return dists, inds


def _knn_faiss(src: RowSource, k: int,
               chunk_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Exact kNN with faiss' flat L2 search (GPU if the input is on CUDA).

    faiss returns ``k + 1`` candidates per row; self is forced in and the
    lists are finalised as in the torch backend. Needs the features in
    memory.
    """
    import faiss
    if not src.in_memory:
        raise ValueError(
            "knn backend 'faiss' needs the features in memory; use "
            "'torch' (or 'auto') for features in a FeatureFile.")
    x = src.full()
    num = x.shape[0]
    kk = min(k + 1, num)
    xn = x.cpu().numpy()
    if x.is_cuda and faiss.get_num_gpus() > 0:  # pragma: no cover
        res = faiss.StandardGpuResources()
        vals, idx = faiss.knn_gpu(res, xn, xn, kk, device=x.device.index)
    else:
        # the brute-force search of IndexFlatL2, without the index's copy
        # of the features
        vals, idx = faiss.knn(xn, xn, kk, metric=faiss.METRIC_L2)
    rows = np.arange(num)
    is_self = idx == rows[:, None]
    missing = ~is_self.any(1)
    # more than kk exact duplicates pushed a row out of its own list
    idx[missing, kk - 1] = rows[missing]
    is_self[missing, kk - 1] = True
    vals = np.maximum(vals, 0)
    vals[is_self] = -1
    vals, idx = _finalize(src,
                          torch.from_numpy(vals).to(x.device),
                          torch.from_numpy(idx).to(x.device), k, chunk_size)
    return vals.cpu().numpy(), idx.cpu().numpy()


def resolve_backend(backend: str, features: ArrayLike) -> str:
    """Resolve ``'auto'`` to a concrete kNN backend.

    ``'auto'`` means torch for a CUDA tensor, torch on the CPU when torch's
    CPU matmul uses MKL (the x86 wheels), and faiss otherwise (or torch
    when faiss cannot be imported). Why not faiss on every CPU: the
    ``faiss-cpu`` wheels bundle an OpenBLAS that picks its matmul kernel
    from a list of known CPUs and falls back to a generic SSE3 kernel on
    newer ones. On a 2-core Sapphire Rapids VM it reports "Prescott" and
    the exact search of 12,936 x 2,048 features took 17-22 s with faiss
    against 3.5 s with the torch backend (MKL dispatches on the CPU's
    instruction set); with ``OPENBLAS_CORETYPE=SkylakeX`` set before faiss
    is imported, faiss took 4.3 s. Both backends return the same
    neighbours (see :func:`knn_search`).

    Args:
        backend (str): ``'auto'``, ``'faiss'`` or ``'torch'``.
        features (np.ndarray | torch.Tensor): The features to search.

    Returns:
        str: ``'faiss'`` or ``'torch'``.
    """
    if backend not in _BACKENDS:
        raise ValueError(
            f'backend must be one of {_BACKENDS}, got {backend!r}')
    if backend != 'auto':
        return backend
    if isinstance(features, torch.Tensor) and features.is_cuda:
        return 'torch'
    if isinstance(features, FeatureFile) or (isinstance(
            features, RowSource) and not features.in_memory):
        return 'torch'  # reads the file in blocks
    if torch.backends.mkl.is_available():
        return 'torch'
    try:
        import faiss  # noqa: F401
    except ImportError:  # pragma: no cover
        return 'torch'
    return 'faiss'


def knn_search(features: ArrayLike,
               k: int,
               backend: str = 'auto',
               chunk_size: Optional[int] = None,
               approx: Optional[dict] = None,
               progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of every row, self included (exact by default).

    Distances are squared Euclidean, ``|x_i - x_j|^2``, computed in float32
    (``2 - 2 cos`` for the L2-normalised features the clustering code
    passes; nothing is normalised here). Every row lists itself first
    (distance exactly 0, even if exact duplicates exist), then the other
    rows in ascending ``(distance, index)`` order: ties between exact
    duplicates are broken by index, also at the ``k``-th position.

    Memory: ``O(N * k)`` for the result plus ``chunk_size x chunk_size``
    (torch) or faiss' internal blocks; never ``N x N``. Features in a
    :class:`~reidkit.clustering.features.FeatureFile` are read in blocks
    of ~256 MB and never held whole. Time: ``O(N^2 D)`` for the exact
    search (the torch backend computes only half of the symmetric
    distance matrix); see :func:`~reidkit.clustering.ivf.ivf_knn` for the
    approximate one.

    Args:
        features (np.ndarray | torch.Tensor | FeatureFile | RowSource):
            ``(N, D)`` features, numpy, a torch tensor on CPU or CUDA, or a
            feature file read in chunks.
        k (int): Number of neighbours per row, self included. Clamped to
            ``N``.
        backend (str): Exact search: ``'faiss'`` (``faiss.knn``, the
            brute-force search of ``IndexFlatL2`` without copying the
            features into an index; ``faiss.knn_gpu`` when faiss has GPUs
            and the input is a CUDA tensor; features in memory only),
            ``'torch'`` (blocked matmul + ``topk`` on the input's device)
            or ``'auto'`` (torch for CUDA tensors, files, and CPU tensors
            when torch uses MKL, faiss otherwise; see
            :func:`resolve_backend`). Ignored with ``approx``.
            Defaults to ``'auto'``.
        chunk_size (int, optional): Block edge in rows. Defaults to
            :func:`default_chunk_size` (2048).
        approx (dict, optional): Approximate search instead, e.g.
            ``dict(type='ivf', nlist=4096, nprobe=16)``: the keyword
            arguments of :func:`~reidkit.clustering.ivf.ivf_knn` plus
            ``type='ivf'``. Defaults to None (exact).
        progress (bool): Log the stages of an approximate search. Defaults
            to False.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``dists`` (float32) and ``indices``
        (int64), both ``(N, min(k, N))``, on the CPU.

    Examples:
        >>> feats = np.random.randn(100, 16).astype(np.float32)
        >>> feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        >>> dists, inds = knn_search(feats, k=5)
        >>> bool((inds[:, 0] == np.arange(100)).all())
        True
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f'k must be a positive int, got {k!r}')
    backend = resolve_backend(backend, features)
    src = row_source(features)
    num = src.num
    k = min(int(k), num)
    if chunk_size is None:
        chunk_size = default_chunk_size(num)
    elif (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size
          or chunk_size < 1):
        raise ValueError(
            f'chunk_size must be a positive int, got {chunk_size!r}')
    chunk_size = int(chunk_size)
    if approx is not None:
        from .ivf import build_approx_knn
        dists, inds = build_approx_knn(approx)(
            src, k, chunk_size=chunk_size, progress=progress)
    elif backend == 'faiss':
        return _knn_faiss(src, k, chunk_size)
    else:
        dists, inds = _knn_torch(src, k, chunk_size)
    return dists.cpu().numpy(), inds.cpu().numpy()
