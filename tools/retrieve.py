"""Rank a gallery for query images and draw the ranked lists.

    python tools/retrieve.py CONFIG CHECKPOINT --query IMG_OR_DIR \\
        --gallery DIR [--topk 10] --out DIR [--device cpu]

Writes ``{out}/{query_stem}.png`` (the query, then its top-k gallery images
with rank and cosine distance) for every query and ``{out}/index.html``.
When identities can be read from the file names (Market-1501 names by
default, or ``--pid-pattern`` / ``--camid-pattern``) the outlines show true
(green) and false (red) matches and every query gets its AP.
"""
import argparse
import os.path as osp
import sys

from reidkit.apis.inference import init_model, list_images
from reidkit.apis.retrieval import resolve_ids, retrieve


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Rank a gallery for query images with a re-ID model and '
        'draw the ranked lists (PNG per query + index.html).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--query', required=True, help='a query image or a folder of them')
    parser.add_argument(
        '--gallery', required=True, help='folder of gallery images')
    parser.add_argument(
        '--out',
        required=True,
        help='output folder (created; only the files this tool writes are '
        'overwritten)')
    parser.add_argument(
        '--topk', type=int, default=10, help='gallery images per query')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument(
        '--pid-pattern',
        help='regex searched in each file name, group 1 = person id '
        r'(default: Market-1501 names "^(-?\d+)_c(\d+)" if all match)')
    parser.add_argument(
        '--camid-pattern',
        help='regex searched in each file name, group 1 = camera id')
    parser.add_argument(
        '--keep-same-camera',
        action='store_true',
        help='keep gallery images with the query\'s identity and camera '
        '(the standard protocol removes them)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for what, path, isdir in (('Config', args.config, False),
                              ('Checkpoint', args.checkpoint, False),
                              ('--gallery folder', args.gallery, True)):
        ok = osp.isdir(path) if isdir else osp.isfile(path)
        if not ok:
            raise SystemExit(f'{what} "{path}" does not exist.')
    if not osp.exists(args.query):
        raise SystemExit(f'--query "{args.query}" does not exist; give an '
                         'image or a folder of images.')
    if args.topk < 1:
        raise SystemExit(f'--topk must be >= 1, got {args.topk}.')
    if args.batch_size < 1:
        raise SystemExit(f'--batch-size must be >= 1, got '
                         f'{args.batch_size}.')
    if osp.isfile(args.out):
        raise SystemExit(f'--out "{args.out}" is a file; give a folder.')
    try:
        # list the images and read the ids before the (slow) model work
        query = (list_images(args.query)
                 if osp.isdir(args.query) else [args.query])
        gallery = list_images(args.gallery)
        resolve_ids(query, gallery, args.pid_pattern, args.camid_pattern)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(str(e)) from None
    model = init_model(args.config, args.checkpoint, device=args.device)
    try:
        result = retrieve(
            model,
            query,
            gallery,
            topk=args.topk,
            out_dir=args.out,
            batch_size=args.batch_size,
            pid_pattern=args.pid_pattern,
            camid_pattern=args.camid_pattern,
            keep_same_camera=args.keep_same_camera,
            progress=sys.stdout.isatty())
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(str(e)) from None
    print(result.summary())
    return result


if __name__ == '__main__':
    main()
