"""GDS sweep and ablation on the built-in synthetic set (docs/gds.md).

Runs ``tools/demo.py`` (train from random initialisation, evaluate) for
every (variant, seed) of a suite, ``--jobs`` at a time, each in its own work
directory, and prints a markdown table of the final mAP / rank-1 as
mean ± std over the seeds. A run whose output already holds a result is
not run again, so an interrupted suite resumes where it stopped, and
``--report`` only prints the table.

    python tools/gds_ablation.py ablation --seeds 1 2 --jobs 2
    python tools/gds_ablation.py sweep --seeds 1 --jobs 2
    python tools/gds_ablation.py ablation --seeds 1 2 --report

On 2 CPU cores, ``--jobs 2 --threads 1`` gets about 1.5x the throughput of
one run at a time with 2 threads (12-epoch runs of about 11 min each
instead of 7).
"""
import argparse
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

TRIPLET = 'configs/gds/triplet_r18_synthetic.py'
CC = 'configs/cluster_contrast/cc_r18_synthetic.py'
GDS = 'model.pair_losses.gds'


def _gds(beta=0.9, lambda_sigma=0.1, lambda_h=0.1, kappa=1.0):
    """cfg-options that add a GDSLoss (and its hook) to a host."""
    return [
        f"{GDS}.type=GDSLoss", f'{GDS}.momentum={beta}',
        f'{GDS}.lambda_sigma={lambda_sigma}', f'{GDS}.lambda_h={lambda_h}',
        f'{GDS}.kappa={kappa}'
    ]


# name -> (config, cfg-options). The GDS variants go through the configs
# of configs/gds/ so that what is measured is what users run.
SUITES = {
    'ablation': {
        'triplet': (TRIPLET, []),
        'triplet+GDS': ('configs/gds/gds_triplet_r18_synthetic.py', []),
        'triplet+GDS-H': ('configs/gds/gds_h_triplet_r18_synthetic.py', []),
        'cc': (CC, []),
        'cc+GDS': ('configs/gds/gds_cc_r18_synthetic.py', []),
        'cc+GDS-H': ('configs/gds/gds_h_cc_r18_synthetic.py', []),
    },
    # one factor at a time on the triplet host; the rows name
    # beta / lambda_sigma / lambda_h / kappa.
    'sweep': {
        f'b{b} ls{ls} lh{lh} k{k}':
        ('configs/gds/gds_h_triplet_r18_synthetic.py', _gds(b, ls, lh, k))
        for b, ls, lh, k in [
            (0.9, 1.0, 0.0, 1.0),
            (0.9, 0.1, 0.0, 1.0),
            (0.9, 1.0, 1.0, 1.0),
            (0.9, 0.1, 1.0, 1.0),
            (0.9, 0.1, 0.1, 1.0),
            (0.9, 1.0, 0.1, 1.0),
            (0.99, 1.0, 1.0, 1.0),
            (0.99, 0.1, 0.1, 1.0),
            (0.9, 0.1, 0.1, 2.0),
        ]
    },
}

# | trained (12 epochs, 7.3 min) | standard | mAP | R1 | R5 | R10 | mINP |
_TRAINED = re.compile(r'^\| trained \((\d+) epochs, ([\d.]+) min\) \| \S+ '
                      r'\| ([\d.]+) \| ([\d.]+) \|', re.M)


def _slug(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9.]+', '_', name).strip('_')


def _result(out_file: str):
    """(mAP, rank-1, minutes) from a finished run's output, else None."""
    if not osp.isfile(out_file):
        return None
    with open(out_file) as f:
        found = _TRAINED.findall(f.read())
    if not found:
        return None
    _, minutes, mAP, rank1 = found[-1]
    return float(mAP), float(rank1), float(minutes)


def _run(job):
    name, seed, config, options, work_dir, threads = job
    out_file = osp.join(work_dir, 'demo.out')
    if _result(out_file) is not None:
        return name, seed, _result(out_file)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    cmd = [
        sys.executable, 'tools/demo.py', config, '--work-dir', work_dir,
        '--cfg-options', f'randomness.seed={seed}', *options
    ]
    print(f'start {name} seed {seed}: {" ".join(cmd)}', flush=True)
    with open(out_file, 'w') as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT,
                               env=env)
    result = _result(out_file)
    if code != 0 or result is None:
        print(f'FAILED {name} seed {seed} (exit {code}); see {out_file}',
              flush=True)
        return name, seed, None
    print(f'done {name} seed {seed}: mAP {result[0]} R1 {result[1]} '
          f'({result[2]} min)', flush=True)
    return name, seed, result


def _mean_std(values):
    if len(values) == 1:
        return f'{values[0]:.1f}'
    return f'{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('suite', choices=sorted(SUITES))
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--only', nargs='+', help='variant names to run')
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per run')
    parser.add_argument('--work-dir', default='work_dirs/gds')
    parser.add_argument('--report', action='store_true',
                        help='only print the table of finished runs')
    args = parser.parse_args()
    variants = SUITES[args.suite]
    if args.only:
        unknown = set(args.only) - set(variants)
        if unknown:
            parser.error(f'unknown variants {sorted(unknown)}; '
                         f'{args.suite} has {sorted(variants)}')
        variants = {k: v for k, v in variants.items() if k in args.only}
    jobs = [(name, seed, config, options,
             osp.join(args.work_dir, args.suite, f'{_slug(name)}_seed{seed}'),
             args.threads) for seed in args.seeds
            for name, (config, options) in variants.items()]
    if args.report:
        results = [(name, seed, _result(osp.join(wd, 'demo.out')))
                   for name, seed, _, _, wd, _ in jobs]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_run, jobs))
    table = {}
    for name, seed, result in results:
        if result is not None:
            table.setdefault(name, {})[seed] = result
    seeds = ' '.join(str(s) for s in args.seeds)
    print(f'\n{args.suite}, seeds {seeds} (mAP / rank-1, %, after training; '
          'mean ± std over the finished seeds)\n')
    print('| variant | mAP | rank-1 | per seed (mAP) | runs |')
    print('|---|---|---|---|---|')
    for name in variants:
        runs = table.get(name, {})
        if not runs:
            print(f'| {name} | - | - | - | 0 |')
            continue
        maps = [runs[s][0] for s in sorted(runs)]
        r1s = [runs[s][1] for s in sorted(runs)]
        per_seed = ', '.join(f's{s} {runs[s][0]:.1f}' for s in sorted(runs))
        print(f'| {name} | {_mean_std(maps)} | {_mean_std(r1s)} | '
              f'{per_seed} | {len(runs)} |')
    missing = len(jobs) - sum(len(v) for v in table.values())
    if missing:
        print(f'\n{missing} run(s) not finished.')
        sys.exit(0 if args.report else 1)


if __name__ == '__main__':
    main()
