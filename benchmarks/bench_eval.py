"""Benchmark :func:`reidkit.evaluation.evaluate_rank` at Market-1501 size.

Builds a synthetic Market-1501-shaped retrieval problem (3,368 queries,
15,913 gallery images, 751 identities over 6 cameras, pid-0 distractors in
the gallery) with identity-structured features, then times

* ``reidkit``: the vectorised, chunked :func:`evaluate_rank`, and
* ``reference``: the usual research-code evaluation, i.e. one
  ``np.argsort(distmat, axis=1)`` followed by a Python loop over queries
  that removes junk, calls :func:`sklearn.metrics.average_precision_score`
  and takes the first match with ``np.where``. The argsort is included in
  its time.

Both must agree on mAP, CMC and mINP to 1e-6 (asserted). Example::

    python benchmarks/bench_eval.py
    python benchmarks/bench_eval.py --num-query 500 --num-gallery 3000
    python benchmarks/bench_eval.py --repeat 5 --threads 1
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from reidkit.evaluation.functional.rank import evaluate_rank  # noqa: E402

from peak_rss import PeakRSS  # noqa: E402  (benchmarks/peak_rss.py)


def make_market_like(num_query=3368,
                     num_gallery=15913,
                     num_ids=751,
                     num_cams=6,
                     dim=128,
                     distractor_frac=0.1755,
                     cam_shift=0.55,
                     noise=1.3,
                     seed=0):
    """Synthetic Market-1501-shaped query/gallery split.

    Every identity is seen by 2-6 cameras; queries are one image per
    (identity, camera) pair as in Market-1501 (trimmed or topped up to
    ``num_query``), the gallery has at least one image per such pair plus
    the rest spread at random, and ``distractor_frac`` of the gallery are
    pid-0 distractors. Features are identity centroid + per-camera shift +
    per-image noise, L2-normalised; ``distmat = 2 - 2 cos``.

    Returns:
        tuple: ``distmat`` (float32, Q x G), q_pids, g_pids, q_camids,
        g_camids (int64 arrays).
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for pid in range(1, num_ids + 1):
        n = rng.integers(2, num_cams + 1)
        for cam in rng.choice(num_cams, size=n, replace=False):
            pairs.append((pid, cam))
    pairs = np.array(pairs)
    order = rng.permutation(len(pairs))
    if len(pairs) >= num_query:
        q_pairs = pairs[order[:num_query]]
    else:
        extra = rng.integers(0, len(pairs), num_query - len(pairs))
        q_pairs = np.concatenate([pairs, pairs[extra]])
    num_distr = int(round(distractor_frac * num_gallery))
    num_id_gal = num_gallery - num_distr
    if num_id_gal >= len(pairs):
        extra = rng.integers(0, len(pairs), num_id_gal - len(pairs))
        g_pairs = np.concatenate([pairs, pairs[extra]])
    else:
        g_pairs = pairs[order[:num_id_gal]]
    distr = np.stack(
        [np.zeros(num_distr, np.int64),
         rng.integers(0, num_cams, num_distr)], 1)
    g_pairs = np.concatenate([g_pairs, distr])
    g_pairs = g_pairs[rng.permutation(len(g_pairs))]

    centroids = rng.standard_normal((num_ids + 1, dim)) / np.sqrt(dim)
    shifts = rng.standard_normal((num_cams, dim)) * cam_shift / np.sqrt(dim)

    def feats(p):
        c = centroids[p[:, 0]]
        # distractors: each one is its own random identity
        is_d = p[:, 0] == 0
        c[is_d] = rng.standard_normal((int(is_d.sum()), dim)) / np.sqrt(dim)
        f = c + shifts[p[:, 1]] + rng.standard_normal(
            (len(p), dim)) * noise / np.sqrt(dim)
        return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(
            np.float32)

    qf, gf = feats(q_pairs), feats(g_pairs)
    distmat = 2 - 2 * qf @ gf.T
    return (distmat.astype(np.float32), q_pairs[:, 0], g_pairs[:, 0],
            q_pairs[:, 1], g_pairs[:, 1])


def reference_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """Research-code style evaluation: argsort once, loop over queries."""
    indices = np.argsort(distmat, axis=1)
    all_ap, all_inp, all_cmc = [], [], []
    for q in range(distmat.shape[0]):
        order = indices[q]
        same_pid = g_pids[order] == q_pids[q]
        keep = ~(same_pid & (g_camids[order] == q_camids[q]))
        matches = same_pid[keep]
        if not matches.any():
            continue
        dist = distmat[q][order][keep]
        all_ap.append(average_precision_score(matches, -dist))
        hit_pos = np.where(matches)[0]
        cmc = np.zeros(max_rank)
        if hit_pos[0] < max_rank:
            cmc[hit_pos[0]:] = 1
        all_cmc.append(cmc)
        all_inp.append(matches.sum() / (hit_pos[-1] + 1))
    return {
        'mAP': float(np.mean(all_ap)),
        'mINP': float(np.mean(all_inp)),
        'cmc': np.mean(all_cmc, axis=0),
        'num_valid_queries': len(all_ap),
    }


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def child_memory(args, impl):
    """Peak added RSS (MB) of one run of ``impl`` in a fresh process.

    A fresh process keeps allocator caches of earlier runs from hiding the
    working set. The child rebuilds the same data (same seed).
    """
    cmd = [
        sys.executable,
        os.path.abspath(__file__), '--mem-child', impl, '--num-query',
        str(args.num_query), '--num-gallery',
        str(args.num_gallery), '--num-ids',
        str(args.num_ids), '--seed',
        str(args.seed), '--noise',
        str(args.noise)
    ]
    if args.chunk_size:
        cmd += ['--chunk-size', str(args.chunk_size)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return float('nan')
    return float(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-query', type=int, default=3368)
    parser.add_argument('--num-gallery', type=int, default=15913)
    parser.add_argument('--num-ids', type=int, default=751)
    parser.add_argument(
        '--repeat',
        type=int,
        default=3,
        help='timed runs of each implementation')
    parser.add_argument(
        '--ref-repeat',
        type=int,
        default=None,
        help='timed runs of the reference (default: '
        '--repeat)')
    parser.add_argument('--chunk-size', type=int, default=None)
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--noise',
        type=float,
        default=1.3,
        help='feature noise; larger = weaker model')
    parser.add_argument(
        '--no-memory',
        action='store_true',
        help='skip the peak-memory runs (fresh processes)')
    parser.add_argument(
        '--mem-child', choices=['ours', 'ref'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    data = make_market_like(
        args.num_query,
        args.num_gallery,
        args.num_ids,
        noise=args.noise,
        seed=args.seed)
    distmat, q_pids, g_pids, q_camids, g_camids = data
    if args.mem_child:
        fn = evaluate_rank if args.mem_child == 'ours' else reference_eval
        kwargs = ({
            'chunk_size': args.chunk_size
        } if args.mem_child == 'ours' else {})
        with PeakRSS() as pr:
            fn(distmat, q_pids, g_pids, q_camids, g_camids, **kwargs)
        print(f'{pr.added_mb:.1f}')
        return
    print(f'data: {distmat.shape[0]} queries x {distmat.shape[1]} gallery, '
          f'{len(np.unique(q_pids))} query ids, '
          f'{int((g_pids == 0).sum())} distractors, '
          f'{len(np.unique(np.concatenate([q_camids, g_camids])))} cameras '
          f'(built in {time.perf_counter() - t0:.1f}s); '
          f'torch threads={torch.get_num_threads()}, '
          f'cpu cores={os.cpu_count()}')

    # warm-up (thread pool start, allocator) on a small slice
    evaluate_rank(distmat[:64], q_pids[:64], g_pids, q_camids[:64], g_camids)

    ours, t_ours = timed(
        lambda: evaluate_rank(
            distmat,
            q_pids,
            g_pids,
            q_camids,
            g_camids,
            chunk_size=args.chunk_size), args.repeat)
    ref, t_ref = timed(
        lambda: reference_eval(distmat, q_pids, g_pids, q_camids, g_camids),
        args.ref_repeat or args.repeat)
    if args.no_memory:
        m_ours = m_ref = float('nan')
    else:
        m_ours = child_memory(args, 'ours')
        m_ref = child_memory(args, 'ref')

    d_map = abs(ours['mAP'] - ref['mAP'])
    d_inp = abs(ours['mINP'] - ref['mINP'])
    d_cmc = float(np.abs(ours['cmc'] - ref['cmc']).max())
    assert ours['num_valid_queries'] == ref['num_valid_queries']
    assert d_map < 1e-6, d_map
    assert d_inp < 1e-6, d_inp
    assert d_cmc < 1e-6, d_cmc

    best_o, best_r = min(t_ours), min(t_ref)
    rows = [
        ('', 'reidkit', 'reference'),
        ('time best (s)', f'{best_o:.3f}', f'{best_r:.3f}'),
        ('time median (s)', f'{statistics.median(t_ours):.3f}',
         f'{statistics.median(t_ref):.3f}'),
        ('runs', str(len(t_ours)), str(len(t_ref))),
        ('peak added RSS (MB)', f'{m_ours:.0f}', f'{m_ref:.0f}'),
        ('mAP', f'{ours["mAP"]:.6f}', f'{ref["mAP"]:.6f}'),
        ('mINP', f'{ours["mINP"]:.6f}', f'{ref["mINP"]:.6f}'),
        ('rank-1', f'{ours["cmc"][0]:.6f}', f'{ref["cmc"][0]:.6f}'),
        ('rank-5', f'{ours["cmc"][4]:.6f}', f'{ref["cmc"][4]:.6f}'),
        ('rank-10', f'{ours["cmc"][9]:.6f}', f'{ref["cmc"][9]:.6f}'),
        ('valid / skipped queries',
         f'{ours["num_valid_queries"]} / {ours["num_skipped_queries"]}',
         f'{ref["num_valid_queries"]} / '
         f'{distmat.shape[0] - ref["num_valid_queries"]}'),
    ]
    w0 = max(len(r[0]) for r in rows)
    for r in rows:
        print(f'{r[0]:<{w0}}  {r[1]:>14}  {r[2]:>14}')
    print(f'speed-up (best/best): {best_r / best_o:.1f}x; max |diff| '
          f'mAP={d_map:.1e} mINP={d_inp:.1e} CMC={d_cmc:.1e}')


if __name__ == '__main__':
    main()
