"""Time and peak memory of the whole pseudo-labelling step at scale.

The step the re-clustering hook runs before every epoch, on features kept
in a file (:class:`~reidkit.clustering.features.FeatureFile`, read in
blocks, as the hook does for large train sets):

    kNN -> k-reciprocal Jaccard distance -> DBSCAN -> cluster centroids

``reidkit.clustering.DBSCAN`` (Cluster Contrast's eps 0.6, min_samples 4,
k1 30, k2 6) does the first three, ``cluster_sums`` the centroids. Every
run is a fresh process, so its peak resident memory (the kernel's
``VmHWM``, whole process, Python and torch included) is its own.

Modes, for every ``--n``:

* ``exact``: exact kNN (blocked matmul over the file), the reference;
* ``approx``: inverted-file kNN (``approx_knn=dict(type='ivf', ...)``);
* ``exact-inmem`` (``--n`` up to ``--max-inmem-n``): the exact pipeline
  on the features loaded into memory, which must give the same labels as
  ``exact`` bit for bit (the out-of-core path changes where rows come
  from, not the result).

Features: synthetic clustered, L2-normalised 2,048-d vectors like a partly
trained model (the model of ``bench_jaccard.py``: ``n * 751 / 12936``
identities, centres in a 64-d latent space, camera shifts, noise,
projected to ``--dim``), generated in chunks straight into a ``.npy``
file under ``--data-dir`` (kept for later runs: 8 GB for 10^6 x 2,048).

Reported per run: seconds per stage, peak RSS, clusters and outliers, the
adjusted Rand index (ARI) of the labels against the exact pipeline's and
against the ground-truth identities (every outlier counted as a cluster of
its own), and for ``approx`` the recall@k1 of
its neighbour lists (1,000 random queries searched exactly, not timed).
Then the growth exponent of time and memory between consecutive sizes,
and a block to paste into documents. Exit status 1 if ``exact-inmem`` and
``exact`` labels differ.

Exact search above ``--max-exact-n`` (default 100,000) is not run: it is
``O(N^2 D)``, hours at 10^6 on two cores; the ARI of the approximate path
is then given against the ground truth only. Examples::

    python benchmarks/bench_scale.py --n 10000 100000
    python benchmarks/bench_scale.py --n 1000000 --modes approx
    python benchmarks/bench_scale.py --n 12936 100000 --modes exact approx
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from peak_rss import PeakRSS  # noqa: E402  (benchmarks/peak_rss.py)

MODES = ('exact', 'approx', 'exact-inmem')
STAGES = ('knn', 'jaccard', 'dbscan', 'centroids', 'total')


def data_path(args, n):
    return os.path.join(
        args.data_dir,
        f'scale_n{n}_d{args.dim}_l{args.latent}_noise{args.noise:g}_'
        f'seed{args.seed}.npy')


def label_file(n, mode):
    return f'labels_n{n}_{mode.replace(" ", "_").replace(",", "_")}.npy'


def write_features(path, n, dim, noise, seed, latent=256):
    """Generate clustered unit-norm features into ``path`` in chunks.

    The model of ``bench_jaccard.feature_blocks`` (sorted identities, like
    a dataset listing), ``n * 751 / 12936`` identities, without ever
    holding the ``n x dim`` matrix. The identities go to
    ``path[:-4] + '_pids.npy'``.
    """
    from bench_jaccard import feature_blocks

    from reidkit.clustering.features import FeatureFileWriter
    pids, blocks = feature_blocks(
        n=n,
        num_ids=max(1, round(n * 751 / 12936)),
        dim=dim,
        noise=noise,
        latent=latent,
        seed=seed)
    tmp = path + '.part'
    writer = FeatureFileWriter(tmp, (n, dim))
    for start, block in blocks:
        writer.write(np.arange(start, start + len(block)), block)
    writer.close()
    np.save(path[:-4] + '_pids.npy', pids)
    os.replace(tmp, path)
    return pids


def exact_neighbours(src, queries, k, block=65536):
    """Exact top-``k`` (self included) of some rows, scanning the file."""
    import torch
    from reidkit.clustering.knn import sq_norms
    xq = src.take(queries)
    sq_q = sq_norms(xq)
    best_v = torch.full((len(queries), k), float('inf'))
    best_i = torch.zeros((len(queries), k), dtype=torch.int64)
    for start, rows in src.chunks(block):
        dist = torch.addmm(sq_q[:, None], xq, rows.t(), alpha=-2)
        dist.add_(sq_norms(rows)[None])
        inside = np.flatnonzero((queries >= start)
                                & (queries < start + len(rows)))
        dist[inside, queries[inside] - start] = -1  # self first
        v, i = dist.topk(min(k, dist.shape[1]), 1, largest=False)
        cand_v = torch.cat([best_v, v], 1)
        cand_i = torch.cat([best_i, i + start], 1)
        best_v, pos = cand_v.topk(k, 1, largest=False)
        best_i = cand_i.gather(1, pos)
    return best_i.numpy()


def run_child(args):
    """One pipeline run; prints a JSON line."""
    import torch

    import reidkit.clustering.ivf as ivf
    from reidkit.clustering import DBSCAN
    from reidkit.clustering.features import (FeatureFile, cluster_sums,
                                             row_source)
    torch.set_num_threads(args.threads)
    path = data_path(args, args.child_n)
    mode = args.child_mode
    if mode == 'exact-inmem':
        features = np.load(path)  # loaded before the measurement
    else:
        features = FeatureFile(path)
    approx = None
    captured = {}
    if mode.startswith('approx'):
        approx = dict(type='ivf', **parse_ivf(args.child_ivf))
        build = ivf.build_approx_knn

        def capture(cfg):
            search = build(cfg)

            def wrapped(*a, **kw):
                out = search(*a, **kw)
                captured['rank'] = out[1].cpu().numpy()
                captured['stats'] = dict(cfg.get('stats', {}))
                return out

            return wrapped

        ivf.build_approx_knn = capture
    clusterer = DBSCAN(
        eps=args.eps,
        min_samples=args.min_samples,
        k1=args.k1,
        k2=args.k2,
        distance_margin=args.margin,
        n_jobs=args.threads,
        approx_knn=approx,
        progress=args.verbose)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        labels = clusterer.fit_predict(features)
        t1 = time.perf_counter()
        num_clusters = int(labels.max()) + 1
        sums, counts = cluster_sums(labels, features, num_clusters)
        centroids = torch.nn.functional.normalize(
            sums / counts[:, None].float(), dim=1)
        t2 = time.perf_counter()
    timings = clusterer.last_timings
    stages = clusterer.last_info['jaccard_stages']
    out = dict(
        n=args.child_n,
        mode=mode,
        knn=timings['knn'],
        jaccard=timings['jaccard'],
        dbscan=timings['cluster'],
        centroids=t2 - t1,
        total=t2 - t0,
        peak_mb=rss.peak_mb,
        added_mb=rss.added_mb,
        rss_method=rss.method,
        clusters=num_clusters,
        outliers=int((labels < 0).sum()),
        pairs_per_row=clusterer.last_info['jaccard_nnz'] / args.child_n,
        centroid_norm=float(centroids.norm(dim=1).mean()),
        stages=dict(stages))
    labels_path = os.path.join(args.data_dir, label_file(args.child_n, mode))
    np.save(labels_path, labels)
    if mode.startswith('approx'):
        out['ivf'] = {
            k: v
            for k, v in captured['stats'].items()
            if k in ('nlist', 'nprobe', 'train_size', 'scanned', 'refine')
        }
        rng = np.random.default_rng(0)
        queries = np.sort(
            rng.choice(args.child_n, min(1000, args.child_n), replace=False))
        k = min(args.k1, args.child_n)
        exact = exact_neighbours(row_source(features), queries, k)
        approx_rank = captured['rank'][queries, :k]
        out['recall'] = float(
            np.mean([
                len(np.intersect1d(a, b)) / k
                for a, b in zip(approx_rank, exact)
            ]))
    print('RESULT ' + json.dumps(out), flush=True)


def parse_ivf(text):
    """``'nprobe=16,refine=1'`` -> ``dict(nprobe=16, refine=1)``."""
    out = {}
    for item in filter(None, text.split(',')):
        key, _, value = item.partition('=')
        out[key.strip()] = int(value)
    return out


def spawn(args, n, mode, ivf=''):
    cmd = [
        sys.executable, __file__, '--child-n',
        str(n), '--child-mode', mode, '--child-ivf', ivf
    ] + sys.argv[1:]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
    if proc.returncode:
        print(proc.stdout)
        raise SystemExit(f'{mode} at N={n} failed (status '
                         f'{proc.returncode})')
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[7:])
        if args.verbose:
            print(line)
    raise SystemExit(f'{mode} at N={n}: no result')


def singletons(labels):
    """Labels with every outlier (-1) in a cluster of its own, for the ARI
    (else all outliers would form one big cluster)."""
    labels = np.array(labels, dtype=np.int64)
    out = labels < 0
    labels[out] = labels.max() + 1 + np.arange(out.sum())
    return labels


def exponent(a, b, key, results):
    ra, rb = results.get(a), results.get(b)
    if not ra or not rb or ra[key] <= 0 or rb[key] <= 0:
        return None
    return math.log(rb[key] / ra[key]) / math.log(rb['n'] / ra['n'])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, nargs='+',
                        default=[10000, 100000, 1000000])
    parser.add_argument('--modes', nargs='+', choices=MODES,
                        default=['exact', 'approx', 'exact-inmem'])
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument('--noise', type=float, default=1.6)
    parser.add_argument('--latent', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--eps', type=float, default=0.6)
    parser.add_argument('--margin', type=float, default=0.02)
    parser.add_argument('--min-samples', type=int, default=4)
    parser.add_argument('--k1', type=int, default=30)
    parser.add_argument('--k2', type=int, default=6)
    parser.add_argument(
        '--ivf',
        nargs='+',
        default=['nprobe=32'],
        help='options of the approximate kNN (ivf_knn keyword=int, comma '
        'separated); several strings run several approximate modes')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--max-exact-n', type=int, default=100000)
    parser.add_argument('--max-inmem-n', type=int, default=20000)
    parser.add_argument('--data-dir', default='work_dirs/bench_scale')
    parser.add_argument('--out', default=None,
                        help='also write the results as JSON')
    parser.add_argument('--verbose', action='store_true')
    parser.add_argument('--child-n', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--child-mode', help=argparse.SUPPRESS)
    parser.add_argument('--child-ivf', default='', help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    if args.child_n:
        run_child(args)
        return

    from sklearn.metrics import adjusted_rand_score

    def ari(a, b):
        return adjusted_rand_score(singletons(a), singletons(b))

    results, pids = {}, {}
    for n in sorted(args.n):
        path = data_path(args, n)
        if os.path.exists(path):
            pids[n] = np.load(path[:-4] + '_pids.npy')
        else:
            t0 = time.perf_counter()
            pids[n] = write_features(path, n, args.dim, args.noise,
                                     args.seed, latent=args.latent)
            print(f'N={n}: wrote {path} ({os.path.getsize(path) / 2**30:.2f}'
                  f' GiB) in {time.perf_counter() - t0:.0f}s', flush=True)
        for mode in args.modes:
            if mode == 'exact' and n > args.max_exact_n:
                print(f'N={n}: exact not run (> --max-exact-n '
                      f'{args.max_exact_n})')
                continue
            if mode == 'exact-inmem' and n > args.max_inmem_n:
                continue
            variants = args.ivf if mode == 'approx' else ['']
            for ivf in variants:
                name = mode if len(variants) == 1 else f'{mode} {ivf}'
                res = spawn(args, n, name, ivf)
                res['labels'] = np.load(
                    os.path.join(args.data_dir, label_file(n, name)))
                results[(n, name)] = res
                print(f'N={n} {name}: total {res["total"]:.1f}s (kNN '
                      f'{res["knn"]:.1f}s), peak RSS {res["peak_mb"]:.0f} '
                      f'MB, {res["clusters"]} clusters', flush=True)

    failed = False
    for (n, mode), res in results.items():
        res['ari_gt'] = ari(pids[n], res['labels'])
        exact = results.get((n, 'exact'))
        res['ari_exact'] = (
            ari(exact['labels'], res['labels']) if exact else None)
        if mode == 'exact-inmem' and exact is not None:
            res['same_as_exact'] = bool(
                np.array_equal(exact['labels'], res['labels']))
            failed |= not res['same_as_exact']

    def fmt(v, spec):
        return '-' if v is None else format(v, spec)

    rows = []
    w = max([11] + [len(m) for (_, m) in results])
    head = (f'{"N":>9} {"mode":<{w}} {"kNN s":>8} {"Jacc s":>7} '
            f'{"DBSCAN s":>8} {"centr s":>7} {"total s":>8} '
            f'{"peak MB":>8} {"clusters":>8} {"outl %":>6} '
            f'{"ARI exact":>9} {"ARI GT":>6} {"recall":>6}')
    rows.append(head)
    for (n, mode), r in sorted(results.items()):
        rows.append(
            f'{n:>9} {mode:<{w}} {r["knn"]:>8.1f} {r["jaccard"]:>7.1f} '
            f'{r["dbscan"]:>8.1f} {r["centroids"]:>7.1f} '
            f'{r["total"]:>8.1f} {r["peak_mb"]:>8.0f} '
            f'{r["clusters"]:>8} {100 * r["outliers"] / n:>6.1f} '
            f'{fmt(r["ari_exact"], "9.4f"):>9} {r["ari_gt"]:>6.3f} '
            f'{fmt(r.get("recall"), "6.3f"):>6}')
    print('\n' + '\n'.join(rows))
    for mode in args.modes:
        ns = sorted(n for (n, m) in results if m == mode)
        for a, b in zip(ns, ns[1:]):
            by_n = {n: results[(n, mode)] for n in (a, b)}
            print(f'growth {mode} N={a}->{b}: time ~ N^'
                  f'{exponent(a, b, "total", by_n):.2f}, kNN ~ N^'
                  f'{exponent(a, b, "knn", by_n):.2f}, after kNN ~ N^'
                  f'{exponent(a, b, "jaccard", by_n):.2f}, peak RSS ~ N^'
                  f'{exponent(a, b, "peak_mb", by_n):.2f}')
    for (n, mode), r in sorted(results.items()):
        if mode.startswith('approx'):
            print(f'IVF N={n} {mode}: {r["ivf"]}, train/assign/search '
                  f'{r["stages"].get("knn_train", 0):.1f}/'
                  f'{r["stages"].get("knn_assign", 0):.1f}/'
                  f'{r["stages"].get("knn_search", 0):.1f}s')
        if mode == 'exact-inmem':
            print(f'N={n}: in-memory labels == out-of-core labels: '
                  f'{r.get("same_as_exact")}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump([{k: v
                        for k, v in r.items() if k != 'labels'}
                       for r in results.values()],
                      f,
                      indent=1)
    if failed:
        print('FAILED: the in-memory and out-of-core labels differ')
        sys.exit(1)


if __name__ == '__main__':
    main()
