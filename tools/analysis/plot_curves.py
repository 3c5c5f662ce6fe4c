"""Training curves of one or more runs from their ``scalars.json``.

    # one run: validation mAP / rank-1, training loss (epoch mean), number of
    # clusters and outliers, pseudo-label NMI / ARI
    python tools/analysis/plot_curves.py work_dirs/cc --out curves.png
    # several runs overlaid (named by work dir), chosen panels
    python tools/analysis/plot_curves.py work_dirs/cc work_dirs/mmt \\
        --keys reid/mAP,reid/rank1 loss pseudo_label/num_clusters \\
        --out cmp.png
    # list the keys a run has
    python tools/analysis/plot_curves.py work_dirs/cc --list-keys

Each RUN is a work dir (its latest ``*/vis_data/scalars.json`` that holds
training lines) or a ``scalars.json`` file. All keys are plotted against
the epoch: training values (``loss``, ``lr`` ...) averaged over each epoch;
validation metrics at the epoch they were measured after; pseudo-label
statistics at the epoch that trained on them (the hook clusters before the
epoch). Panels for which no run has data are left out, with a note.
"""
import argparse
import sys

from reidkit.visualization.curves import (DEFAULT_PANELS, find_scalars_file,
                                          parse_scalars, plot_curves,
                                          run_name)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot training curves from mmengine scalars.json files.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[-1])
    parser.add_argument('runs', nargs='+', metavar='RUN',
                        help='work dir or scalars.json (several overlay)')
    parser.add_argument('--out', help='image to write (.png, .pdf, .svg)')
    parser.add_argument(
        '--keys', nargs='+', metavar='KEY[,KEY...]',
        help='one panel per argument, the comma-separated keys in it '
        '(default: reid/mAP,reid/rank1 loss '
        'pseudo_label/num_clusters,pseudo_label/num_outliers '
        'pseudo_label/nmi,pseudo_label/ari)')
    parser.add_argument('--names', nargs='+',
                        help='legend names of the runs (default: the '
                        'work dir names)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--figsize', type=float, nargs=2,
                        metavar=('W', 'H'),
                        help='inches (default: 4 x 3 per panel, 2 a row)')
    parser.add_argument('--list-keys', action='store_true',
                        help='print every run\'s keys and exit')
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.runs):
        parser.error(f'--names gives {len(args.names)} names for '
                     f'{len(args.runs)} runs; give one per run.')
    if not args.list_keys and not args.out:
        parser.error('give --out FILE (or --list-keys).')
    return args


def main(argv=None):
    args = parse_args(argv)
    runs = []
    for i, run in enumerate(args.runs):
        path = find_scalars_file(run)
        name = args.names[i] if args.names else run_name(run)
        series = parse_scalars(path)
        print(f'{name}: {path}')
        if args.list_keys:
            for key, data in series.items():
                print(f'  {key}: {len(data["x"])} points, epochs '
                      f'{data["x"][0]:g}-{data["x"][-1]:g}')
        runs.append((name, series))
    if args.list_keys:
        return
    if args.keys:
        panels = []
        for group in args.keys:
            keys = tuple(k for k in group.split(',') if k)
            panels.append((', '.join(k.split('/')[-1] for k in keys), '',
                           keys))
    else:
        panels = DEFAULT_PANELS
    skipped = plot_curves(runs, args.out, panels, figsize=args.figsize,
                          dpi=args.dpi, title=args.title)
    for title in skipped:
        keys = next(p[2] for p in panels if p[0] == title)
        print(f'Note: no run has {", ".join(keys)}; left out the panel '
              f'"{title}".')
    print(f'Wrote {args.out}')


if __name__ == '__main__':
    sys.exit(main())
