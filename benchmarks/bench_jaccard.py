"""Benchmark :func:`reidkit.clustering.compute_jaccard_distance`.

Builds clustered features that look like those of a partly trained re-ID
model (Market-1501 train size by default: 12,936 images of 751 identities,
D=2048; identity centres in a low-dimensional latent space, per-camera
shifts and per-image noise, projected to D dimensions and L2-normalised),
then runs, each in a fresh process (so that peak memory is its own):

* ``sparse``: the sparse implementation with ``max_distance = eps +
  margin``, as the re-clustering hook calls it;
* ``sparse b=1``: the same with ``max_distance=1`` (every pair with a
  non-zero overlap stored), to show what the bound saves;
* ``dense``: a reference written like the research code
  (``faiss_rerank.compute_jaccard_distance`` of Cluster Contrast / SpCL):
  faiss ``IndexFlatL2`` kNN, per-image Python loops for the k-reciprocal
  sets and their expansion, dense ``N x N`` float32 ``V``, ``V_qe`` and
  Jaccard matrices, inverted-index accumulation of the minima row by row
  (with ``--knn-backend torch``, its ``initial_rank`` comes from the same
  :func:`knn_search` as the sparse runs, because float32 near-ties can be
  ordered differently by faiss and torch).

Each child reports the time of every stage and its *added* peak memory:
the peak resident set size during the call minus the resident set size
just before it (the kernel's high-water mark ``VmHWM`` after resetting it
through ``/proc/self/clear_refs``, or a 2 ms ``VmRSS`` sampler where that
is not allowed). The features are loaded before the measurement, so they
do not count. DBSCAN (``eps``, ``min_samples``; outside the measured
call) must give identical labels on all results, and the stored sparse
distances must equal the dense ones to 1e-5, with exactly the pairs whose
dense distance is below the bound stored; the script exits with status 1
otherwise.

``--n`` larger than ``--max-dense-n`` (default 30,000) runs the sparse
implementation alone (the dense reference would need ``3 N^2 * 4`` bytes,
e.g. 120 GB for N=100,000). Examples::

    python benchmarks/bench_jaccard.py
    python benchmarks/bench_jaccard.py --noise 1.1 --eps 0.6 --margin 0.02
    python benchmarks/bench_jaccard.py --n 100000
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from peak_rss import PeakRSS  # noqa: E402  (benchmarks/peak_rss.py)

STAGES = ('knn', 'reciprocal', 'encode', 'query_expansion', 'min_sum')
STAGE_NAMES = {
    'knn': 'kNN',
    'reciprocal': 'k-reciprocal sets',
    'encode': 'encodings V',
    'query_expansion': 'query expansion',
    'min_sum': 'min-sum (Jaccard)',
    'jaccard': 'all after kNN',
    'total': 'whole step',
}


def feature_blocks(n=12936,
                   num_ids=751,
                   dim=2048,
                   noise=1.0,
                   latent=64,
                   num_cams=6,
                   cam_shift=0.3,
                   iso_noise=0.1,
                   seed=0,
                   chunk=8192):
    """Clustered unit-norm features, generated block by block.

    Every identity has at least one image; the rest are spread at random.
    Identity centres are random unit vectors in a ``latent``-dimensional
    space; an image is its centre plus a camera shift plus Gaussian noise
    of norm ~``noise``, mapped to ``dim`` dimensions by a fixed random
    projection, plus isotropic noise of relative norm ``iso_noise``. Larger
    ``noise`` means a weaker model (more outliers and merged clusters).

    Returns:
        tuple: ``(pids, blocks)``: int64 identity labels (sorted, like a
        dataset listing) and an iterator of ``(start, block)``, float32
        ``(rows, dim)`` L2-normalised features of rows ``start, ...``.
    """
    rng = np.random.default_rng(seed)
    pids = np.sort(
        np.concatenate(
            [np.arange(num_ids),
             rng.integers(0, num_ids, n - num_ids)]))
    centres = rng.standard_normal((num_ids, latent))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    shifts = rng.standard_normal((num_cams, latent)) * cam_shift
    proj = (rng.standard_normal(
        (latent, dim)) / np.sqrt(latent)).astype(np.float32)

    def blocks():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            m = stop - start
            z = (
                centres[pids[start:stop]] +
                shifts[rng.integers(0, num_cams, m)] / np.sqrt(latent) +
                noise * rng.standard_normal((m, latent)) / np.sqrt(latent))
            f = z.astype(np.float32) @ proj
            f += (
                iso_noise * np.linalg.norm(f, axis=1, keepdims=True) *
                rng.standard_normal(
                    (m, dim)).astype(np.float32) / np.sqrt(dim))
            f /= np.linalg.norm(f, axis=1, keepdims=True)
            yield start, f

    return pids, blocks()


def make_features(*args, **kwargs):
    """:func:`feature_blocks` (same arguments) in one ``(n, dim)`` array.

    Returns:
        tuple: ``(features, pids)``.
    """
    pids, blocks = feature_blocks(*args, **kwargs)
    return np.concatenate([block for _, block in blocks]), pids


def dense_reference(features, k1=30, k2=6, timings=None, knn_backend=None):
    """Jaccard distance written like the research code (dense, loops).

    Follows ``compute_jaccard_distance`` of Cluster Contrast / SpCL
    (``search_option=3``, CPU faiss): ``initial_rank`` has ``k1`` columns,
    ``V`` is a dense float32 matrix filled row by row, query expansion
    averages rows of ``V``, and the minima are accumulated through an
    inverted index, one image at a time.

    Args:
        knn_backend (str, optional): None for the research code's faiss
            ``IndexFlatL2`` search; otherwise ``initial_rank`` comes from
            :func:`reidkit.clustering.knn_search` with this backend, so that
            both implementations see the same neighbour lists (backends can
            order neighbours whose distances differ by ~1e-7 differently).

    Returns:
        np.ndarray: ``(N, N)`` float32 Jaccard distances.
    """
    import faiss
    import torch
    import torch.nn.functional as F
    timings = {} if timings is None else timings
    feats = torch.from_numpy(features)
    num = feats.shape[0]

    t0 = time.perf_counter()
    if knn_backend is None:
        index = faiss.IndexFlatL2(feats.shape[1])
        index.add(features)
        _, initial_rank = index.search(features, k1)
        del index
    else:
        from reidkit.clustering import knn_search
        _, initial_rank = knn_search(features, k1, backend=knn_backend)
    timings['knn'] = time.perf_counter() - t0

    def k_reciprocal_neigh(i, k):
        forward = initial_rank[i, :k + 1]
        backward = initial_rank[forward, :k + 1]
        return forward[np.where(backward == i)[0]]

    t0 = time.perf_counter()
    nn_k1 = [k_reciprocal_neigh(i, k1) for i in range(num)]
    nn_k1_half = [
        k_reciprocal_neigh(i, int(np.around(k1 / 2))) for i in range(num)
    ]
    timings['reciprocal'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    V = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        recip = nn_k1[i]
        expansion = recip
        for cand in recip:
            cand_recip = nn_k1_half[cand]
            if (len(np.intersect1d(cand_recip, recip))
                    > 2 / 3 * len(cand_recip)):
                expansion = np.append(expansion, cand_recip)
        expansion = np.unique(expansion)
        dist = 2 - 2 * torch.mm(feats[i:i + 1], feats[expansion].t())
        V[i, expansion] = F.softmax(-dist, dim=1).view(-1).numpy()
    del nn_k1, nn_k1_half
    timings['encode'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if k2 != 1:
        V_qe = np.zeros_like(V)
        for i in range(num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    timings['query_expansion'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    inv_index = [np.where(V[:, i] != 0)[0] for i in range(num)]
    jaccard = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        temp_min = np.zeros((1, num), dtype=np.float32)
        nonzero = np.where(V[i, :] != 0)[0]
        images = [inv_index[k] for k in nonzero]
        for j in range(len(nonzero)):
            temp_min[0, images[j]] += np.minimum(V[i, nonzero[j]],
                                                 V[images[j], nonzero[j]])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    del inv_index, V
    jaccard[jaccard < 0] = 0
    timings['min_sum'] = time.perf_counter() - t0
    timings['total'] = sum(timings[s] for s in STAGES)
    timings['jaccard'] = timings['total'] - timings['knn']
    return jaccard


def run_child(args):
    """One implementation in this (fresh) process; writes a JSON report."""
    import scipy.sparse as sp
    import torch  # imported before the measurement
    from sklearn.cluster import DBSCAN

    from reidkit.clustering import compute_jaccard_distance
    from reidkit.clustering.knn import resolve_backend
    feats = np.load(args.features)
    knn_backend = resolve_backend(args.knn_backend, feats)
    report = {'n': len(feats), 'torch_threads': torch.get_num_threads(),
              'knn_backend': knn_backend}
    timings = {}
    with PeakRSS() as pr:
        if args.child == 'dense':
            # the research code's faiss search, unless the sparse runs use
            # another backend: then the same one (same neighbour lists)
            backend = None if knn_backend == 'faiss' else knn_backend
            dist = dense_reference(feats, args.k1, args.k2, timings, backend)
        else:
            dist = compute_jaccard_distance(
                feats,
                args.k1,
                args.k2,
                max_distance=args.child_bound,
                knn_backend=args.knn_backend,
                timings=timings)
    report.update(
        timings=timings,
        added_mb=pr.added_mb,
        peak_mb=pr.peak_mb,
        base_mb=pr.base / 2**20,
        mem_method=pr.method)
    if args.child == 'dense':
        report['pairs_per_row'] = float((dist < 1).sum()) / len(feats)
    else:
        report['pairs_per_row'] = dist.nnz / len(feats)
    t0 = time.perf_counter()
    labels = DBSCAN(
        eps=args.eps, min_samples=args.min_samples,
        metric='precomputed').fit_predict(dist)
    report['dbscan_s'] = time.perf_counter() - t0
    report['clusters'] = int(labels.max() + 1)
    report['outliers'] = int((labels == -1).sum())
    np.save(args.out + '.labels.npy', labels)
    if args.child == 'sparse':
        sp.save_npz(args.out + '.npz', dist)
    else:
        # compare with the sparse results, here where the dense matrix is
        report['checks'] = {}
        for path, b in zip(args.compare, args.bounds):
            sparse = sp.load_npz(path).tocsr()
            rows = np.repeat(np.arange(len(feats)), np.diff(sparse.indptr))
            stored = dist[rows, sparse.indices]
            report['checks'][path] = {
                'bound': b,
                'max_abs_diff': float(np.abs(stored - sparse.data).max()),
                'stored': int(sparse.nnz),
                'stored_below_bound': bool((stored < b).all()),
                'dense_below_bound': int((dist < b).sum()),
            }
    with open(args.out + '.json', 'w') as f:
        json.dump(report, f)


def spawn(args, impl, features, out, bound=None, compare=()):
    """Run one implementation in a fresh interpreter; return its report."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__), '--child', impl, '--features', features,
        '--out', out, '--k1',
        str(args.k1), '--k2',
        str(args.k2), '--eps',
        str(args.eps), '--min-samples',
        str(args.min_samples), '--knn-backend', args.knn_backend
    ]
    if bound is not None:
        cmd += ['--child-bound', str(bound)]
    if compare:
        cmd += ['--compare', *compare[0], '--bounds', *map(str, compare[1])]
    env = dict(os.environ)
    if args.threads:
        for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                    'MKL_NUM_THREADS'):
            env[var] = str(args.threads)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise RuntimeError(f'{impl} child failed ({res.returncode})')
    with open(out + '.json') as f:
        return json.load(f)


def load_average():
    try:
        return ' '.join(f'{v:.2f}' for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return 'n/a'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=12936, help='images')
    parser.add_argument(
        '--ids',
        type=int,
        default=None,
        help='identities (default: n * 751 / 12936)')
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument(
        '--noise',
        type=float,
        default=1.0,
        help='per-image noise; larger = weaker model')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='threads of torch, faiss and BLAS in the runs (sets '
        'OMP/OPENBLAS/MKL_NUM_THREADS; default: unset)')
    parser.add_argument('--k1', type=int, default=30)
    parser.add_argument('--k2', type=int, default=6)
    parser.add_argument('--eps', type=float, default=0.6)
    parser.add_argument(
        '--margin',
        type=float,
        default=0.02,
        help='max_distance = eps + margin, as the re-clustering hook')
    parser.add_argument('--min-samples', type=int, default=4)
    parser.add_argument(
        '--knn-backend',
        default='auto',
        choices=['auto', 'faiss', 'torch'],
        help='kNN backend of the sparse runs (auto: see reidkit.clustering.'
        'knn.resolve_backend); when it resolves to torch the dense '
        'reference takes the same neighbour lists from knn_search instead '
        'of a faiss IndexFlatL2 search, so both sides pay the same kNN')
    parser.add_argument(
        '--max-dense-n',
        type=int,
        default=30000,
        help='skip the dense reference (and the b=1 run) above this N')
    parser.add_argument(
        '--no-unbounded',
        action='store_true',
        help='skip the sparse run with max_distance=1')
    parser.add_argument(
        '--child', choices=['sparse', 'dense'], help=argparse.SUPPRESS)
    parser.add_argument('--features', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument(
        '--child-bound', type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument(
        '--compare', nargs='*', default=[], help=argparse.SUPPRESS)
    parser.add_argument(
        '--bounds', nargs='*', type=float, default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return 0

    bound = args.eps + args.margin
    if not args.eps < bound <= 1:
        parser.error('need 0 < margin and eps + margin <= 1')
    ids = args.ids or max(1, round(args.n * 751 / 12936))
    with_dense = args.n <= args.max_dense_n
    with_unbounded = with_dense and not args.no_unbounded
    t0 = time.perf_counter()
    feats, _ = make_features(
        args.n, ids, args.dim, noise=args.noise, seed=args.seed)
    print(f'data: N={args.n}, D={args.dim}, {ids} identities, noise='
          f'{args.noise} (built in {time.perf_counter() - t0:.1f}s); '
          f'k1={args.k1}, k2={args.k2}, eps={args.eps}, max_distance='
          f'{bound:g}, min_samples={args.min_samples}; cpu cores='
          f'{os.cpu_count()}, threads={args.threads or "default"} '
          f'(OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}), '
          f'load average before: {load_average()}')
    sys.stdout.flush()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'features.npy')
        np.save(path, feats)
        del feats
        runs = {}
        runs['sparse'] = spawn(args, 'sparse', path,
                               os.path.join(tmp, 'sparse'), bound)
        compare = ([os.path.join(tmp, 'sparse.npz')], [bound])
        if with_unbounded:
            runs['sparse b=1'] = spawn(args, 'sparse', path,
                                       os.path.join(tmp, 'sparse1'), 1.0)
            compare[0].append(os.path.join(tmp, 'sparse1.npz'))
            compare[1].append(1.0)
        if with_dense:
            runs['dense'] = spawn(
                args,
                'dense',
                path,
                os.path.join(tmp, 'dense'),
                compare=compare)
        labels = {
            name:
            np.load(
                os.path.join(tmp, {
                    'sparse': 'sparse',
                    'sparse b=1': 'sparse1',
                    'dense': 'dense'
                }[name]) + '.labels.npy')
            for name in runs
        }

    names = list(runs)
    header = [
        '', *(f'sparse b={bound:g}' if n == 'sparse' else n for n in names)
    ]
    if with_dense:
        header.append('dense / sparse')
    rows = [header]

    def add(label, values, fmt, ratio=True):
        row = [label, *(fmt(v) for v in values)]
        if with_dense:
            row.append(f'{values[-1] / values[0]:.1f}x'
                       if ratio and values[0] > 0 else '')
        rows.append(row)

    for key in (*STAGES, 'jaccard', 'total'):
        add(f'{STAGE_NAMES[key]} (s)',
            [runs[n]['timings'][key] for n in names], '{:.2f}'.format)
    add('peak added RSS (MB)', [runs[n]['added_mb'] for n in names],
        '{:.0f}'.format)
    add('peak RSS of the process (MB)', [runs[n]['peak_mb'] for n in names],
        '{:.0f}'.format,
        ratio=False)
    add('stored pairs per row', [runs[n]['pairs_per_row'] for n in names],
        '{:.1f}'.format,
        ratio=False)
    add('DBSCAN clusters', [runs[n]['clusters'] for n in names],
        str,
        ratio=False)
    add('DBSCAN outliers', [runs[n]['outliers'] for n in names],
        str,
        ratio=False)
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = []
    for r in rows:
        lines.append('  '.join([r[0].ljust(widths[0])] +
                               [v.rjust(w)
                                for v, w in zip(r[1:], widths[1:])]).rstrip())
    table = '\n'.join(lines)

    ok = True
    notes = [
        f'memory: {runs["sparse"]["mem_method"]}, each run in a fresh '
        'process, features loaded before the measurement; kNN backend '
        f'{runs["sparse"]["knn_backend"]} (all runs); torch threads '
        f'{runs["sparse"]["torch_threads"]}; load average after: '
        f'{load_average()}'
    ]
    for name in names[1:]:
        same = np.array_equal(labels[name], labels['sparse'])
        ok &= same
        notes.append(f'DBSCAN labels {name} == sparse b={bound:g}: {same}')
    if with_dense:
        for path, check in runs['dense']['checks'].items():
            b = check['bound']
            name = f'sparse b={b:g}'
            exact = (
                check['stored_below_bound']
                and check['stored'] == check['dense_below_bound'])
            close = check['max_abs_diff'] <= 1e-5
            ok &= exact and close
            notes.append(
                f'{name}: stores exactly the {check["stored"]} pairs with '
                f'dense d < {b:g}: {exact}; max |sparse - dense| '
                f'{check["max_abs_diff"]:.1e} ({close})')
    else:
        dense_gb = 3 * args.n**2 * 4 / 1e9
        notes.append(f'dense reference skipped (N > {args.max_dense_n}; '
                     f'its three N x N float32 arrays alone: {dense_gb:.0f} '
                     'GB)')
    notes.append('DBSCAN time (not included above): ' +
                 ', '.join(f'{n} {runs[n]["dbscan_s"]:.1f}s' for n in names))
    print(table)
    for note in notes:
        print(note)

    cmd = 'python benchmarks/bench_jaccard.py ' + ' '.join(sys.argv[1:])
    print('\nFor the README:\n')
    print('```\n$ ' + cmd.strip())
    print(table)
    for note in notes:
        print(note)
    print('```')
    if not ok:
        print('MISMATCH between the implementations', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
