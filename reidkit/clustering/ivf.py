"""Approximate k-nearest neighbours with an inverted file (IVF).

The exact search costs ``O(N^2 D)``: about 5 hours for a million 2,048-d
features on two CPU cores. An inverted file, the scheme of faiss'
``IndexIVFFlat``, cuts it to ``O(N * nprobe * N / nlist * D)``:

1. **train** a coarse quantizer: ``nlist`` centroids by k-means (Lloyd,
   ``niter`` iterations) on a random sample of ``train_size`` rows;
2. **assign** every row to its ``nprobe`` nearest centroids; the nearest
   is its *home* list;
3. **search**: every row is compared, with exact float32 distances, with
   the members (home rows) of its ``nprobe`` lists, and keeps the ``k``
   nearest.

faiss searches query by query; here the search runs list by list, one
matrix product between a list's members and all the rows that probe it,
so that it uses the BLAS, runs on whatever device the features are on,
and reads features kept in a file
(:class:`~reidkit.clustering.features.FeatureFile`) by blocks and gathers
instead of holding them: peak memory is ``O(N * (k + nprobe))`` plus a few
blocks, not ``N x D``. The neighbour lists follow the rules of
:func:`~reidkit.clustering.knn.knn_search` (self first at distance 0, then
ascending ``(distance, index)``); a row whose probed lists hold fewer than
``k`` rows is searched exactly. ``nprobe = nlist`` gives the exact result.

Recall grows with ``nprobe / nlist``; ``benchmarks/bench_scale.py``
measures it, and its effect on the pseudo labels, against the exact
search.
"""
import functools
import inspect
import math
import time
from math import inf
from typing import Callable, Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from .features import RowSource, row_source
from .knn import _finalize, _merge_topk, sq_norms

__all__ = ['ivf_knn', 'build_approx_knn', 'default_nlist']

# Elements of a rows x nlist or rows x members block of distances.
_BLOCK_ELEMS = 1 << 24


def default_nlist(num: int) -> int:
    """``round(4 * sqrt(N))`` lists (faiss' guideline is 4 to 16 sqrt(N)),
    at most N / 8."""
    return int(max(1, min(round(4 * math.sqrt(num)), num // 8)))


def _nearest(x: torch.Tensor, cent: torch.Tensor, cent_sq: torch.Tensor,
             n: int) -> torch.Tensor:
    """Indices of the ``n`` nearest centroids of every row, nearest first
    (``|c|^2 - 2 x.c``, the row's own norm does not change the order)."""
    score = torch.addmm(cent_sq[None], x, cent.t(), alpha=-2)
    return score.topk(n, dim=1, largest=False, sorted=True).indices


def _assign(x: torch.Tensor, cent: torch.Tensor, n: int) -> torch.Tensor:
    """:func:`_nearest` in row blocks of at most 16M distances."""
    cent_sq = sq_norms(cent)
    step = max(1, _BLOCK_ELEMS // len(cent))
    return torch.cat([
        _nearest(x[i:i + step], cent, cent_sq, n)
        for i in range(0, len(x), step)
    ])


def _train_centroids(src: RowSource, nlist: int, train_size: int, niter: int,
                     gen: torch.Generator) -> torch.Tensor:
    """k-means centroids of a random sample of rows.

    Initialised with ``nlist`` distinct sample rows; an empty cluster is
    re-seeded with a random sample row.
    """
    num = src.num
    size = min(num, train_size)
    sample = torch.randperm(num, generator=gen)[:size].sort().values
    xs = src.take(sample)
    init = torch.randperm(size, generator=gen)[:nlist]
    cent = xs[init.to(xs.device)].clone()
    for _ in range(niter):
        assign = _assign(xs, cent, 1)[:, 0]
        counts = torch.bincount(assign, minlength=nlist)
        sums = torch.zeros_like(cent).index_add_(0, assign, xs)
        cent = sums / counts.clamp(min=1)[:, None].to(sums.dtype)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty):
            pick = torch.randint(size, (len(empty), ), generator=gen)
            cent[empty] = xs[pick.to(xs.device)]
    return cent


def ivf_knn(features,
            k: int,
            nlist: Optional[int] = None,
            nprobe: int = 32,
            train_size: Optional[int] = None,
            niter: int = 10,
            seed: int = 0,
            refine: int = 0,
            chunk_size: int = 2048,
            progress: bool = False,
            stats: Optional[Dict[str, float]] = None
            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Approximate ``k`` nearest neighbours of every row with an IVF.

    Args:
        features (np.ndarray | torch.Tensor | FeatureFile | RowSource):
            ``(N, D)`` features (see
            :func:`~reidkit.clustering.features.row_source`).
        k (int): Neighbours per row, self included, ``1 <= k <= N``.
        nlist (int, optional): Number of lists (coarse centroids).
            Defaults to :func:`default_nlist` (``4 sqrt(N)``).
        nprobe (int): Lists searched per row. Defaults to 32.
        train_size (int, optional): Rows sampled to train the centroids.
            Defaults to ``max(16 * nlist, 10000)`` (capped at N).
        niter (int): k-means iterations. Defaults to 10.
        seed (int): Seed of the sample, the initialisation and re-seeding.
            Defaults to 0.
        refine (int): Rounds of neighbour-list refinement after the search
            (:func:`_refine`: each list's members are compared with the
            union of their neighbour lists). Each round costs about as much
            as a search with ``nprobe = k``; it raises the recall, but on
            the benchmark's features more probes bought more agreement per
            second. Defaults to 0.
        chunk_size (int): Rows per block of queries. Defaults to 2048.
        progress (bool): Show a progress bar over the lists and log the
            stages. Defaults to False.
        stats (dict, optional): Filled with ``nlist``, ``nprobe``,
            ``train_size``, the mean number of rows a query is compared
            with (``scanned``), and the seconds of ``train``, ``assign``
            and ``search``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(N, k)`` float32 squared
        distances and int64 indices, on the features' device.
    """
    src = row_source(features)
    num = src.num
    for name, value, low in (('k', k, 1), ('nprobe', nprobe, 1),
                             ('niter', niter, 0), ('seed', seed, 0),
                             ('refine', refine, 0),
                             ('chunk_size', chunk_size, 1)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f'ivf_knn: {name} must be an integer >= {low}, '
                             f'got {value!r}.')
    for name, value in (('nlist', nlist), ('train_size', train_size)):
        if value is not None and (isinstance(value, bool) or int(value) !=
                                  value or value < 1):
            raise ValueError(f'ivf_knn: {name} must be a positive integer '
                             f'or None, got {value!r}.')
    k = min(int(k), num)
    kk = min(k + 1, num)
    nlist = min(int(nlist or default_nlist(num)), num)
    nprobe = min(int(nprobe), nlist)
    train_size = min(num, int(train_size or max(16 * nlist, 10000)))
    dev = src.device
    stats = {} if stats is None else stats
    stats.update(nlist=nlist, nprobe=nprobe, train_size=train_size)

    def log(msg):
        if progress:
            print_log(msg, logger='current')

    gen = torch.Generator().manual_seed(int(seed))
    t0 = time.perf_counter()
    cent = _train_centroids(src, nlist, train_size, int(niter), gen)
    stats['train'] = time.perf_counter() - t0
    log(f'IVF: {nlist} lists trained on {train_size} rows '
        f'({stats["train"]:.1f}s)')

    t0 = time.perf_counter()
    probes = torch.empty((num, nprobe), dtype=torch.int64, device=dev)
    sq_all = torch.empty(num, device=dev)
    for start, block in src.chunks(src.block_rows(chunk_size)):
        probes[start:start + len(block)] = _assign(block, cent, nprobe)
        sq_all[start:start + len(block)] = sq_norms(block)
    del cent
    home = probes[:, 0]
    member_order = torch.argsort(home, stable=True)
    member_ptr = torch.zeros(nlist + 1, dtype=torch.int64, device=dev)
    torch.cumsum(torch.bincount(home, minlength=nlist), 0, out=member_ptr[1:])
    # (row, list) for every probe, grouped by list, rows ascending; a
    # list's home rows are its members, in the same order
    probe_list = probes.reshape(-1)
    query_order = torch.argsort(probe_list, stable=True)
    query_home = query_order % nprobe == 0
    query_order = query_order.div_(nprobe, rounding_mode='floor')
    query_ptr = torch.zeros(nlist + 1, dtype=torch.int64, device=dev)
    torch.cumsum(
        torch.bincount(probe_list, minlength=nlist), 0, out=query_ptr[1:])
    sizes = member_ptr[1:] - member_ptr[:-1]
    stats['scanned'] = float(
        (sizes[probes].sum(1).double().mean()) if num else 0.)
    del probes, probe_list, home
    stats['assign'] = time.perf_counter() - t0
    log(f'IVF: {num} rows assigned to {nprobe} lists each '
        f'({stats["assign"]:.1f}s); {stats["scanned"]:.0f} rows compared '
        'per query on average')

    t0 = time.perf_counter()
    best_v = torch.full((num, kk), float('inf'), device=dev)
    best_i = torch.full((num, kk), -1, dtype=torch.int64, device=dev)
    bar = ProgressBar(nlist) if progress else None
    member_ptr, query_ptr = member_ptr.tolist(), query_ptr.tolist()
    for lst in range(nlist):
        members = member_order[member_ptr[lst]:member_ptr[lst + 1]]
        if len(members):
            xm = src.take(members)
            sq_m = sq_all[members]
            lo, hi = query_ptr[lst], query_ptr[lst + 1]
            step = max(1, min(chunk_size, _BLOCK_ELEMS // len(members)))
            seen_home = 0
            for start in range(lo, hi, step):
                stop = min(start + step, hi)
                rows = query_order[start:stop]
                dist = torch.addmm(
                    sq_all[rows][:, None], src.take(rows), xm.t(), alpha=-2)
                dist.add_(sq_m[None])
                # self first: the j-th home row of the list is member j
                hit = torch.nonzero(query_home[start:stop]).flatten()
                dist[hit, seen_home + torch.arange(len(hit), device=dev)] = -2
                seen_home += len(hit)
                _merge_topk(best_v, best_i, rows, dist, members)
        if bar is not None:
            bar.update()
    if bar is not None:
        print_log('', logger='current')
    stats['search'] = time.perf_counter() - t0
    log(f'IVF: search {stats["search"]:.1f}s')
    for round_ in range(int(refine)):
        t0 = time.perf_counter()
        best_v, best_i = _refine(src, sq_all, best_v, best_i, member_order,
                                 member_ptr, chunk_size, progress)
        stats[f'refine{round_ + 1}'] = time.perf_counter() - t0
        log(f'IVF: refinement {round_ + 1}: '
            f'{stats[f"refine{round_ + 1}"]:.1f}s')
    return _finalize(src, best_v, best_i, k, chunk_size)


def _refine(src: RowSource, sq_all: torch.Tensor, best_v: torch.Tensor,
            best_i: torch.Tensor, member_order: torch.Tensor,
            member_ptr: list, chunk_size: int,
            progress: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """One round of neighbour-list refinement, list by list.

    The members of a list are compared with every row in the current
    neighbour lists of any member (and with each other), exactly, and keep
    the nearest ``kk``. Rows of one identity spread over a few lists, and
    each finds part of its identity in the search; their lists pooled
    together hold most of it. Every new list is at least as good as the
    old one (its rows are candidates).
    """
    num, kk = best_i.shape
    dev = best_i.device
    new_v = torch.empty_like(best_v)
    new_i = torch.empty_like(best_i)
    bar = ProgressBar(len(member_ptr) - 1) if progress else None
    for lst in range(len(member_ptr) - 1):
        members = member_order[member_ptr[lst]:member_ptr[lst + 1]]
        if len(members):
            cand = torch.cat([members, best_i[members].reshape(-1)])
            cand = torch.unique(cand[cand >= 0])  # sorted
            xc = src.take(cand)
            sq_c = sq_all[cand]
            pos = torch.searchsorted(cand, members)
            step = max(1, min(chunk_size, _BLOCK_ELEMS // len(cand)))
            for start in range(0, len(members), step):
                rows = members[start:start + step]
                dist = torch.addmm(
                    sq_all[rows][:, None], src.take(rows), xc.t(), alpha=-2)
                dist.add_(sq_c[None])
                dist[torch.arange(len(rows), device=dev),
                     pos[start:start + step]] = -2  # self first
                v, i = dist.topk(
                    min(kk, len(cand)), dim=1, largest=False, sorted=False)
                if v.shape[1] < kk:  # fewer candidates than kk
                    pad = kk - v.shape[1]
                    v = torch.cat([v, v.new_full((len(rows), pad), inf)], 1)
                    i = torch.cat([cand[i], i.new_full((len(rows), pad), -1)],
                                  1)
                else:
                    i = cand[i]
                new_v[rows] = v
                new_i[rows] = i
        if bar is not None:
            bar.update()
    if bar is not None:
        print_log('', logger='current')
    return new_v, new_i


_APPROX_TYPES = {'ivf': ivf_knn}


def build_approx_knn(cfg: dict) -> Callable:
    """``ivf_knn`` with the options of ``cfg`` (``dict(type='ivf', ...)``).

    Raises:
        ValueError: For an unknown ``type`` or option.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(
            'approx_knn must be a dict with a type, e.g. '
            f"dict(type='ivf', nprobe=16), got {cfg!r}.")
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind not in _APPROX_TYPES:
        raise ValueError(f'Unknown approximate kNN type {kind!r}; '
                         f'available: {sorted(_APPROX_TYPES)}.')
    fn = _APPROX_TYPES[kind]
    allowed = [
        name for name in inspect.signature(fn).parameters
        if name not in ('features', 'k', 'chunk_size', 'progress')
    ]
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f'Unknown option(s) {unknown} for approximate kNN '
                         f'{kind!r}; allowed: {allowed}.')
    return functools.partial(fn, **cfg)
