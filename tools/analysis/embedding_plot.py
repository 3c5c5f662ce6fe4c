"""t-SNE / UMAP picture of a model's re-ID embeddings.

Embeds a few identities of a data split with a model (trained checkpoint
or, without one, the config's initial weights) and draws a 2-D t-SNE (or
UMAP) scatter plot coloured by ground-truth identity, by the checkpoint's
pseudo labels (train split; outliers in grey) or by camera.

    # test split (query + gallery), 20 identities, trained model
    python tools/analysis/embedding_plot.py \\
        configs/cluster_contrast/cc_r18_synthetic.py \\
        work_dirs/cc/epoch_12.pth --out emb.png
    # train split coloured by the checkpoint's pseudo labels
    python tools/analysis/embedding_plot.py CONFIG CKPT --split train \\
        --color pseudo --out pseudo.png
    # the same model at initialisation (no checkpoint)
    python tools/analysis/embedding_plot.py CONFIG --out init.png
    # re-plot saved features (from --save-features) without a model
    python tools/analysis/embedding_plot.py --features feats.npz --out e.png

Identities: the first ``--max-ids`` (``--random-ids``: random ones) by
ground-truth id, or by pseudo label with ``--color pseudo`` (then the
outliers, pseudo label -1, are kept in the same share as the labelled
images). On the test and gallery splits only identities that have a query
image are eligible (Market's distractors, pid 0, have none).
"""
import argparse
import os.path as osp
import sys

import numpy as np
from mmengine.config import DictAction

from reidkit.visualization.embedding import (METHOD_NAMES, check_method,
                                             embed_and_plot, select_subset)

SPLITS = ('train', 'query', 'gallery', 'test')
COLORS = dict(gt=('gt_pids', 'ground-truth id', 'id'),
              pseudo=('pseudo_labels', 'pseudo label', 'cluster'),
              camera=('camids', 'camera', 'cam'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='t-SNE / UMAP scatter plot of re-ID embeddings.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 2)[-1])
    parser.add_argument('config', nargs='?', help='model config file')
    parser.add_argument(
        'checkpoint', nargs='?',
        help='checkpoint; without it the model keeps its initial weights')
    parser.add_argument('--out', required=True, help='image to write')
    parser.add_argument('--split', choices=SPLITS,
                        help='data split (default: test = query + gallery; '
                        'with --features, the one saved in the file)')
    parser.add_argument('--color', choices=tuple(COLORS), default='gt',
                        help='colour by ground-truth id (default), by the '
                        'checkpoint\'s pseudo labels (train split only) or '
                        'by camera')
    parser.add_argument('--method', choices=tuple(METHOD_NAMES),
                        default='tsne',
                        help='tsne (default, scikit-learn) or umap (needs '
                        'pip install umap-learn)')
    parser.add_argument('--max-ids', type=int, default=20,
                        help='identities to show, 0 = all (default: 20)')
    parser.add_argument('--random-ids', action='store_true',
                        help='random identities instead of the first ones')
    parser.add_argument('--max-points', type=int, default=2000,
                        help='cap on the points, 0 = none (default: 2000)')
    parser.add_argument('--perplexity', type=float, default=30.0,
                        help='t-SNE perplexity (default: 30)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random choices, t-SNE and, '
                        'without a checkpoint, the initial weights '
                        '(default: 0)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--figsize', type=float, nargs=2, default=(6.0, 5.0),
                        metavar=('W', 'H'), help='inches (default: 6 5)')
    parser.add_argument('--title', help='replace the automatic title')
    parser.add_argument(
        '--features',
        help='an .npz from --save-features (or any .npz with "features" '
        'and the colour\'s labels: gt_pids / camids / pseudo_labels) to '
        'plot instead of extracting; CONFIG and CHECKPOINT are not needed')
    parser.add_argument(
        '--save-features',
        help='also write the extracted features of the shown points and '
        'their labels to this .npz')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. '
        'test_dataloader.dataset.data_root=data/market1501')
    args = parser.parse_args(argv)
    if args.features is not None and args.split is not None:
        parser.error('--split does not apply to --features (the file '
                     'holds the points of one split).')
    if args.features is None and args.split is None:
        args.split = 'test'
    if args.color == 'pseudo' and args.split not in (None, 'train'):
        parser.error(
            f'--color pseudo colours by the checkpoint\'s pseudo labels, '
            f'which exist for the train split only; use --split train, or '
            f'--color gt / camera for the {args.split} split.')
    if args.features is None and args.config is None:
        parser.error('give a CONFIG (and usually a CHECKPOINT), or '
                     '--features FILE.npz.')
    if args.features is not None and args.config is not None:
        parser.error('--features plots saved features; do not also give '
                     'a CONFIG / CHECKPOINT.')
    return args


def _split_infos(cfg, split: str):
    """Data infos of a split built from the config's dataloaders.

    The dataset is built without its pipeline: only the image paths and
    labels are needed, and extract_features runs the model's test
    pipeline on the paths (so train images are not augmented).
    """
    from reidkit.registry import DATASETS
    key = 'train_dataloader' if split == 'train' else 'test_dataloader'
    loader = cfg.get(key) or (cfg.get('val_dataloader')
                              if split != 'train' else None)
    if not loader or 'dataset' not in loader:
        raise KeyError(f'The config has no {key}.dataset to take the '
                       f'{split} split from.')
    ds_cfg = dict(loader['dataset'], pipeline=[])
    dataset = DATASETS.build(ds_cfg)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    for need in ('img_path', 'gt_pid', 'camid'):
        if infos and need not in infos[0]:
            raise KeyError(
                f'The {key} dataset ({type(dataset).__name__}) has no '
                f'"{need}" in its data infos; embedding_plot needs a '
                'reidkit re-ID dataset.')
    if split in ('query', 'gallery'):
        if infos and 'is_query' not in infos[0]:
            raise KeyError(f'The {key} dataset has no "is_query" to take '
                           f'the {split} images from.')
        want = split == 'query'
        query_pids = {d['gt_pid'] for d in infos if d['is_query']}
        infos = [d for d in infos if bool(d['is_query']) == want]
    elif split == 'test':
        query_pids = {d['gt_pid'] for d in infos if d.get('is_query')}
    else:
        query_pids = None
    if not infos:
        raise ValueError(f'The {split} split of the config is empty.')
    return infos, query_pids


def _select_key(color: str, arrays: dict) -> str:
    """The labels that pick the identities: the pseudo labels for
    ``--color pseudo``, else the ground-truth ids (the colour's own labels
    when an .npz has none)."""
    if color == 'pseudo' or 'gt_pids' not in arrays:
        return COLORS[color][0]
    return 'gt_pids'


def _pseudo_labels(model, num_train: int) -> np.ndarray:
    labels = getattr(model, 'pseudo_labels', None)
    if labels is None:
        raise ValueError(
            f'--color pseudo: the model ({type(model).__name__}) has no '
            'pseudo_labels; use the checkpoint of an unsupervised run '
            '(Cluster Contrast, MMT, ...).')
    labels = labels.detach().cpu().numpy().astype(np.int64)
    if len(labels) == 0:
        raise ValueError(
            '--color pseudo: the model holds no pseudo labels (no '
            'checkpoint given, or one saved before the first clustering); '
            'give a checkpoint of a trained unsupervised run.')
    if len(labels) != num_train:
        raise ValueError(
            f'--color pseudo: the checkpoint has {len(labels)} pseudo '
            f'labels but the config\'s train set has {num_train} images; '
            'use the config the checkpoint was trained with.')
    return labels


def _from_model(args):
    """Labels, features and title parts from a config and checkpoint."""
    import torch

    from reidkit.apis import extract_features, init_model
    torch.manual_seed(args.seed)  # the initial weights when no checkpoint
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    infos, query_pids = _split_infos(model.cfg, args.split)
    arrays = dict(
        gt_pids=np.array([d['gt_pid'] for d in infos], dtype=np.int64),
        camids=np.array([d['camid'] for d in infos], dtype=np.int64))
    if args.color == 'pseudo':
        arrays['pseudo_labels'] = _pseudo_labels(model, len(infos))
    keep = select_subset(
        arrays[_select_key(args.color, arrays)], args.max_ids,
        args.max_points, args.random_ids, args.seed,
        candidate_ids=sorted(query_pids) if query_pids else None)
    paths = [infos[i]['img_path'] for i in keep]
    print(f'Extracting {len(paths)} {args.split} images ...', flush=True)
    feats = extract_features(model, paths, batch_size=args.batch_size)
    arrays = {k: v[keep] for k, v in arrays.items()}
    arrays['features'] = feats.numpy()
    if args.checkpoint:  # e.g. 'cc_r18/epoch_12.pth'
        parent = osp.basename(osp.dirname(osp.abspath(args.checkpoint)))
        source = osp.join(parent, osp.basename(args.checkpoint))
    else:
        source = 'initial weights'
    if args.save_features:
        np.savez_compressed(args.save_features, split=args.split,
                            source=source, img_paths=np.array(paths),
                            **arrays)
        print(f'Saved the features to {args.save_features}')
    return arrays, source


def _from_file(args):
    """Labels, features and title parts from an .npz."""
    if not osp.isfile(args.features):
        raise FileNotFoundError(f'--features file "{args.features}" does '
                                'not exist.')
    with np.load(args.features, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    key = COLORS[args.color][0]
    for need in ('features', key):
        if need not in arrays:
            raise KeyError(
                f'{args.features} has no "{need}" array (it has '
                f'{", ".join(sorted(arrays))}); --color {args.color} '
                f'needs "{key}" beside "features".')
    args.split = str(arrays['split']) if 'split' in arrays else 'saved'
    keep = select_subset(arrays[_select_key(args.color, arrays)],
                         args.max_ids, args.max_points,
                         args.random_ids, args.seed)
    out = {k: arrays[k][keep] for k in ('features', 'gt_pids', 'camids',
                                        'pseudo_labels') if k in arrays}
    source = str(arrays['source']) if 'source' in arrays else \
        osp.basename(args.features)
    return out, source


def main(argv=None):
    args = parse_args(argv)
    check_method(args.method)  # before the slow part
    if args.features:
        arrays, source = _from_file(args)
    else:
        arrays, source = _from_model(args)
    key, what, label_name = COLORS[args.color]
    labels = arrays[key]
    ids = arrays[_select_key(args.color, arrays)]
    num_ids = len(np.unique(ids[ids >= 0]))
    num_out = int((labels < 0).sum())
    outliers = f'{num_out} outlier' + 's' * (num_out > 1) if num_out else ''
    title = args.title
    if title is None:
        unit = 'clusters' if args.color == 'pseudo' else 'ids'
        title = (f'{args.split} split by {what}: '
                 f'{METHOD_NAMES[args.method]} of {len(labels)} images, '
                 f'{num_ids} {unit}' + (f' + {outliers}' if outliers else '')
                 + f'\nmodel: {source}')
    embed_and_plot(arrays['features'], labels, args.out,
                   method=args.method, perplexity=args.perplexity,
                   seed=args.seed, title=title, label_name=label_name,
                   figsize=tuple(args.figsize), dpi=args.dpi)
    print(f'Wrote {args.out}: {len(labels)} points, {num_ids} '
          + ('clusters' if args.color == 'pseudo' else 'identities')
          + (f', {outliers}' if outliers else ''))


if __name__ == '__main__':
    sys.exit(main())
