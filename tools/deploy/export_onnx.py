"""Export a re-ID model to ONNX and check it against PyTorch.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--opset 18] [--shape H W] [--no-normalize] \\
        [--check-images DIR_OR_FILES ...] [--num-check 16] [--device cpu]

The graph takes ``images``: float32 ``N x 3 x H x W``, BGR, 0..255 (the
resized image; the data preprocessor's normalisation is inside the graph),
``N`` dynamic, and returns ``features``: float32 ``N x D``, L2-normalised
unless ``--no-normalize`` (see ``reidkit/apis/export.py``). After the export
ONNX Runtime and PyTorch embed the same real images at batch sizes 1 and 7;
the tool prints the cosine similarities and PASS/FAIL and exits with status
1 when the minimum cosine is below ``--min-cosine``.
"""
import argparse
import copy
import os.path as osp
import sys

import numpy as np
from mmengine.config import Config, DictAction

from reidkit.apis.export import (DEFAULT_OPSET, OnnxParityError,
                                 check_onnx_parity, export_onnx,
                                 format_parity)
from reidkit.apis.inference import init_model, list_images


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a re-ID model to ONNX (dynamic batch) and check '
        'ONNX Runtime against PyTorch on real images.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace --out if it exists (otherwise an error)')
    parser.add_argument(
        '--opset',
        type=int,
        default=DEFAULT_OPSET,
        help=f'ONNX opset, >= 18 (default {DEFAULT_OPSET})')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="input height and width (default: the config's test "
        'pipeline Resize)')
    parser.add_argument(
        '--no-normalize',
        action='store_true',
        help="output the raw mode='tensor' embedding, without L2 "
        'normalisation')
    parser.add_argument(
        '--check-images',
        nargs='+',
        metavar='DIR_OR_FILE',
        help="images for the parity check (default: the config's test "
        'set query images)')
    parser.add_argument(
        '--num-check',
        type=int,
        default=16,
        help='images used by the parity check, evenly spread over the '
        'candidates (default 16)')
    parser.add_argument(
        '--check-batch-sizes',
        type=int,
        nargs='+',
        default=[1, 7],
        help='ONNX Runtime batch sizes of the parity check (default 1 7)')
    parser.add_argument(
        '--min-cosine',
        type=float,
        default=0.9999,
        help='fail below this per-image cosine similarity (default 0.9999)')
    parser.add_argument(
        '--skip-check', action='store_true', help='export only')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.test_cfg.flip=True')
    return parser.parse_args(argv)


def query_images(cfg: Config) -> list:
    """Image paths of the query split of the config's test set."""
    from reidkit.registry import DATASETS
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError('the config has no test_dataloader.dataset')
    ds_cfg = copy.deepcopy(loader['dataset'])
    ds_cfg.update(split='query', pipeline=[])
    dataset = DATASETS.build(ds_cfg)
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def check_image_list(args, cfg: Config) -> list:
    """The images of the parity check (``--num-check`` of them)."""
    if args.check_images:
        paths = []
        for item in args.check_images:
            if osp.isdir(item):
                paths.extend(list_images(item))
            elif osp.isfile(item):
                paths.append(item)
            else:
                raise SystemExit(f'--check-images: "{item}" is neither an '
                                 'image file nor a folder.')
    else:
        try:
            paths = query_images(cfg)
        except Exception as e:  # any dataset error: explain the way out
            raise SystemExit(
                'No images for the parity check: pass --check-images '
                'DIR_OR_FILES (a few crops) or --skip-check. The config\'s '
                f'test set could not be read: {type(e).__name__}: {e}')
    if not paths:
        raise SystemExit('No images for the parity check; pass '
                         '--check-images DIR_OR_FILES.')
    if args.num_check < len(paths):
        idx = np.linspace(0, len(paths) - 1, args.num_check).round()
        paths = [paths[i] for i in sorted(set(idx.astype(int).tolist()))]
    return paths


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'Config "{args.config}" does not exist.')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(
            f'Checkpoint "{args.checkpoint}" does not exist. Give the .pth '
            'file that tools/train.py wrote (e.g. work_dirs/<config>/'
            'epoch_N.pth).')
    if osp.exists(args.out) and not args.overwrite:
        raise SystemExit(f'"{args.out}" already exists; pass --overwrite to '
                         'replace it, or choose another --out.')
    if args.num_check < 1:
        raise SystemExit(f'--num-check must be >= 1, got {args.num_check}.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = init_model(cfg, args.checkpoint, device=args.device)
    images = None if args.skip_check else check_image_list(args, model.cfg)

    info = export_onnx(
        model,
        args.out,
        opset=args.opset,
        shape=tuple(args.shape) if args.shape else None,
        normalize=not args.no_normalize,
        overwrite=args.overwrite)
    shape = 'x'.join(str(d) for d in info['input_shape'])
    print(f'Exported {info["file"]} in {info["export_time"]:.1f} s '
          f'({info["file_size"] / 2**20:.1f} MiB, opset {info["opset"]}): '
          f'images {shape} float32 BGR 0..255 -> features '
          f'batchx{info["feat_dim"]} '
          f'({"L2-normalised" if info["normalize"] else "raw"}'
          f'{", flip-averaged" if info["flip"] else ""}).')
    if images is None:
        print('Parity check skipped (--skip-check).')
        return
    try:
        report = check_onnx_parity(
            model,
            args.out,
            images,
            batch_sizes=args.check_batch_sizes,
            min_cosine=args.min_cosine)
    except OnnxParityError as e:
        print(format_parity(e.report))
        print(f'{e}\nThe file was kept: {args.out}', file=sys.stderr)
        sys.exit(1)
    print(format_parity(report))


if __name__ == '__main__':
    main()
