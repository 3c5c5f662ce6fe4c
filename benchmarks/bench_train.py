"""Training throughput and the share of an epoch per stage (for a GPU).

Builds the model of a Cluster Contrast config (default
``configs/cluster_contrast/cc_r50_market1501.py``: ResNet-50, last stride
1, BN-neck, cluster memory, BatchNorm over groups of ``bn_samples``) with
random weights (every ``init_cfg`` and ``pretrained`` is dropped, so
nothing is read or downloaded) and measures, on ``--device``:

* **training**: images/s of the full training step on random images,
  as the Runner runs it: the model's data preprocessor (uint8 BGR images
  as mmengine's ``pseudo_collate`` hands them over, i.e. a list of CHW
  tensors on the host; moved to the device, normalised, RandomErasing
  where the config has it), ``forward(mode='loss')`` (ClusterNCE against
  the cluster memory, which the loss updates), ``parse_losses``,
  backward and an optimiser step (the config's optimiser). Batches are
  P x K like the ``IdentitySampler`` (K = the config's
  ``num_instances``), drawn from pseudo labels set once with
  ``set_pseudo_labels`` from synthetic clustered features (``--num-images``
  images in ``--num-clusters`` clusters), so the memory has its real size.
  ``--warmup`` iterations are not timed, then ``--iters`` are;
* **extraction**: images/s of the pseudo-labelling features
  (``model.pseudo_label_features``: eval mode, no gradient) in batches of
  ``--extract-batch``;
* **clustering**: seconds of the config's clusterer (the
  ``PseudoLabelHook``'s ``clusterer``; default ``DBSCAN`` eps 0.6,
  min_samples 4, k1 30, k2 6) on the same synthetic features (the
  generator of ``bench_jaccard.py``), placed on the device so that the
  kNN runs there, with the clusterer's ``last_timings``. On a GPU it
  also times the call with the features on the host (a numpy array),
  which is how ``PseudoLabelHook`` calls the clusterer;
* **epoch**: extraction (``num_images / extraction images/s``) +
  clustering + training (``iters_per_epoch * batch / training images/s``),
  the share of each, and the projection over the config's epochs.

AMP (``--amp``, on by default) is ``torch.autocast`` with float16 and a
``torch.amp.GradScaler`` on CUDA, bfloat16 on the CPU; channels-last
(``--channels-last``, on by default) puts the model and every input batch
in ``torch.channels_last``. The device is synchronised before every clock
reading. Not measured: data loading (JPEG decoding and augmentation in
the dataloader workers), validation, logging and checkpoints.

Prints a header (device, torch, AMP dtype, channels-last), a results
table and a block to paste into documents; ``--out`` also writes the
numbers as JSON. Exit status 1 if a training loss is not finite or the
clusterer finds no cluster, 2 for a bad setting (e.g. ``--device cuda``
without a GPU). Examples::

    python benchmarks/bench_train.py                    # GPU, the issue's
    python benchmarks/bench_train.py --no-amp --no-channels-last
    python benchmarks/bench_train.py --out work_dirs/bench_train.json
    python benchmarks/bench_train.py \\
        --config configs/cluster_contrast/cc_r18_synthetic.py \\
        --device cpu --batch 8 --height 64 --width 32 --iters 2 \\
        --warmup 1 --num-images 300 --num-clusters 20 --extract-batch 16 \\
        --iters-per-epoch 5                              # CPU smoke test
"""
import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from bench_jaccard import make_features  # noqa: E402  (benchmarks/)

DEFAULT_CONFIG = 'configs/cluster_contrast/cc_r50_market1501.py'
DEFAULT_CLUSTERER = dict(type='DBSCAN', eps=0.6, min_samples=4, k1=30, k2=6)
STAGES = ('extraction', 'clustering', 'training')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--device', default='cuda', help="'cuda', 'cuda:1', "
                        "'cpu'")
    parser.add_argument('--batch', type=int, default=256,
                        help='training batch (P x K, K = the config\'s '
                        'num_instances)')
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--width', type=int, default=128)
    parser.add_argument('--amp', action=argparse.BooleanOptionalAction,
                        default=True, help='autocast: float16 + GradScaler '
                        'on CUDA, bfloat16 on the CPU')
    parser.add_argument('--channels-last',
                        action=argparse.BooleanOptionalAction, default=True,
                        help='model and inputs in torch.channels_last')
    parser.add_argument('--iters', type=int, default=50,
                        help='timed training iterations')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed training iterations first')
    parser.add_argument('--extract-batch', type=int, default=256)
    parser.add_argument('--extract-iters', type=int, default=20,
                        help='timed extraction batches')
    parser.add_argument('--extract-warmup', type=int, default=5,
                        help='untimed extraction batches first')
    parser.add_argument('--num-images', type=int, default=12936,
                        help='train images (default: Market-1501)')
    parser.add_argument('--num-clusters', type=int, default=750,
                        help='pseudo identities in the synthetic features')
    parser.add_argument('--noise', type=float, default=1.0,
                        help='noise of the synthetic features (see '
                        'bench_jaccard.py; larger = weaker model)')
    parser.add_argument('--iters-per-epoch', type=int, default=None,
                        help='default: the config\'s sampler '
                        'iters_per_epoch, else ceil(num_images / batch)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='for the projection; default: the config\'s '
                        'train_cfg.max_epochs')
    parser.add_argument('--collate', choices=['pseudo', 'stacked'],
                        default='pseudo',
                        help='inputs as mmengine\'s pseudo_collate gives '
                        'them (a list of CHW uint8 tensors, the configs\' '
                        'default) or one stacked NCHW uint8 tensor')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='also write the results as JSON')
    return parser, parser.parse_args(argv)


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or platform.machine()


def device_name(device):
    import torch
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        return (f'{torch.cuda.get_device_name(device)} '
                f'({props.total_memory / 2**30:.0f} GiB)')
    return f'{cpu_name()} ({os.cpu_count()} cores)'


def load_average():
    try:
        return ' '.join(f'{v:.2f}' for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return 'n/a'


def strip_init(cfg):
    """Drop every ``init_cfg`` and ``pretrained`` key (no weight files)."""
    if isinstance(cfg, dict):
        return {
            k: strip_init(v)
            for k, v in cfg.items() if k not in ('init_cfg', 'pretrained')
        }
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(strip_init(v) for v in cfg)
    return cfg


def clusterer_cfg(cfg):
    """The PseudoLabelHook's clusterer config, or Cluster Contrast's."""
    for hook in cfg.get('custom_hooks', None) or []:
        if hook.get('type') == 'PseudoLabelHook' and 'clusterer' in hook:
            return dict(hook['clusterer']), hook
    return dict(DEFAULT_CLUSTERER), None


class Timer:
    """Wall-clock seconds, synchronising the device before each reading."""

    def __init__(self, device):
        self.device = device

    def sync(self):
        import torch
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def now(self):
        self.sync()
        return time.perf_counter()


def reset_peak(device):
    import torch
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device):
    import torch
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def autocast(device, amp):
    import torch
    if not amp:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def image_batches(num, batch, height, width, collate, seed):
    """``num`` random uint8 BGR batches on the host, collated."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        imgs = torch.randint(
            0, 256, (batch, 3, height, width), dtype=torch.uint8,
            generator=gen)
        out.append(list(imgs.unbind(0)) if collate == 'pseudo' else imgs)
    return out


def pk_batches(labels, num, num_ids, num_instances, rng):
    """``num`` lists of sample indices, P x K like the IdentitySampler."""
    groups = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    out = []
    for _ in range(num):
        ids = rng.choice(len(groups), num_ids,
                         replace=len(groups) < num_ids)
        idx = []
        for c in ids:
            g = groups[c]
            idx.extend(rng.choice(g, num_instances,
                                  replace=len(g) < num_instances).tolist())
        out.append(idx)
    return out


def data_samples(indices):
    from reidkit.structures import ReIDDataSample
    samples = []
    for i in indices:
        s = ReIDDataSample()
        s.set_metainfo(dict(sample_idx=int(i)))
        samples.append(s)
    return samples


def bench_training(model, optimizer, scaler, images, samples, args, device):
    """Images/s of the whole training step (see the module doc)."""
    import torch
    timer = Timer(device)
    fmt = torch.channels_last if args.channels_last else None
    model.train()
    reset_peak(device)
    losses = []
    start = None
    for it in range(args.warmup + args.iters):
        if it == args.warmup:
            start = timer.now()
        data = dict(inputs=images[it % len(images)],
                    data_samples=samples[it % len(samples)])
        with autocast(device, args.amp):
            data = model.data_preprocessor(data, True)
            inputs = data['inputs']
            if fmt is not None:
                inputs = inputs.contiguous(memory_format=fmt)
            loss_dict = model(inputs, data['data_samples'], mode='loss')
        loss, _ = model.parse_losses(loss_dict)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if it >= args.warmup:
            losses.append(loss.detach())
    elapsed = timer.now() - start
    losses = torch.stack(losses).float().cpu()
    return dict(
        seconds=elapsed,
        s_per_iter=elapsed / args.iters,
        images_per_s=args.iters * args.batch / elapsed,
        peak_gib=peak_gib(device),
        loss_first=float(losses[0]),
        loss_last=float(losses[-1]),
        finite=bool(torch.isfinite(losses).all()))


def bench_extraction(model, images, args, device):
    """Images/s of ``pseudo_label_features`` in eval mode."""
    import torch
    timer = Timer(device)
    fmt = torch.channels_last if args.channels_last else None
    model.eval()
    reset_peak(device)
    start = None
    with torch.no_grad():
        for it in range(args.extract_warmup + args.extract_iters):
            if it == args.extract_warmup:
                start = timer.now()
            data = dict(inputs=images[it % len(images)])
            with autocast(device, args.amp):
                inputs = model.data_preprocessor(data, False)['inputs']
                if fmt is not None:
                    inputs = inputs.contiguous(memory_format=fmt)
                feats = model.pseudo_label_features(inputs)
            feats = feats.float()  # as the hook stores them
    elapsed = timer.now() - start
    model.train()
    num = args.extract_iters * args.extract_batch
    return dict(
        seconds=elapsed,
        s_per_batch=elapsed / args.extract_iters,
        images_per_s=num / elapsed,
        peak_gib=peak_gib(device),
        feat_dim=int(feats.shape[1]))


def bench_clustering(cfg_dict, feats, device, host_too):
    """Seconds of ``fit_predict`` on the device (and on the host)."""
    import torch
    from reidkit.registry import CLUSTERERS
    timer = Timer(device)
    runs = {}
    where = [('device', device)]
    if host_too:
        where.append(('host', None))
    for name, dev in where:
        clusterer = CLUSTERERS.build(dict(cfg_dict))
        x = torch.from_numpy(feats).to(dev) if dev is not None else feats
        reset_peak(device)
        start = timer.now()
        labels = clusterer.fit_predict(x)
        seconds = timer.now() - start
        del x
        runs[name] = dict(
            seconds=seconds,
            timings={k: float(v)
                     for k, v in (clusterer.last_timings or {}).items()},
            clusters=int(labels.max() + 1) if len(labels) else 0,
            outliers=int((labels == -1).sum()),
            peak_gib=peak_gib(device) if dev is not None else None)
    return runs


def fmt_table(rows):
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return '\n'.join(
        '  '.join([r[0].ljust(widths[0])] +
                  [v.rjust(w) for v, w in zip(r[1:], widths[1:])]).rstrip()
        for r in rows)


def main(argv=None):
    parser, args = parse_args(argv)
    for name in ('batch', 'height', 'width', 'iters', 'extract_batch',
                 'extract_iters', 'num_images', 'num_clusters'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0 or args.extract_warmup < 0:
        parser.error('--warmup and --extract-warmup must be >= 0')
    if args.num_clusters > args.num_images:
        parser.error('--num-clusters must be <= --num-images')

    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from reidkit.registry import MODELS
    from reidkit.utils import register_all_modules

    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print(f'error: --device {args.device} was asked for, but CUDA is '
              'not available (torch ' + torch.__version__ + ', '
              f'torch.version.cuda={torch.version.cuda}). Run on a GPU '
              'machine, or pass --device cpu (with a small setting, see '
              'the examples in the module doc).', file=sys.stderr)
        return 2
    if device.type not in ('cuda', 'cpu'):
        parser.error('--device must be cuda[:N] or cpu')
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())

    register_all_modules()
    cfg = Config.fromfile(args.config)
    model_cfg = strip_init(cfg.model.to_dict())
    sampler = cfg.get('train_dataloader', {}).get('sampler', {}) or {}
    num_instances = int(sampler.get('num_instances', 4))
    if args.batch % num_instances:
        parser.error(f'--batch {args.batch} is not a multiple of the '
                     f"config's num_instances (K = {num_instances})")
    bn_samples = model_cfg.get('bn_samples')
    if bn_samples and args.batch > bn_samples and args.batch % bn_samples:
        parser.error(f'--batch {args.batch} is not a multiple of the '
                     f"config's bn_samples ({bn_samples})")
    if args.iters_per_epoch is not None:
        iters_per_epoch, ipe_source = args.iters_per_epoch, '--iters-per-epoch'
    elif sampler.get('iters_per_epoch'):
        iters_per_epoch = int(sampler['iters_per_epoch'])
        ipe_source = 'config: train_dataloader.sampler.iters_per_epoch'
    else:
        iters_per_epoch = math.ceil(args.num_images / args.batch)
        ipe_source = 'ceil(num_images / batch)'
    train_cfg = cfg.get('train_cfg', {}) or {}
    epochs = args.epochs or int(train_cfg.get('max_epochs', 1))
    cluster_cfg, hook_cfg = clusterer_cfg(cfg)
    cudnn_benchmark = bool(
        (cfg.get('env_cfg', {}) or {}).get('cudnn_benchmark', False))

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if device.type == 'cuda':
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = cudnn_benchmark

    # PyTorch's default initialisation: init_weights() is not called
    # (it would load the config's weight files)
    model = MODELS.build(model_cfg)
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    optim_cfg = cfg.optim_wrapper.to_dict()
    optim_cfg['type'] = 'OptimWrapper'  # AMP is done here, not by mmengine
    optim_cfg.pop('loss_scale', None)
    optimizer = build_optim_wrapper(model, optim_cfg).optimizer
    scaler = None
    if args.amp and device.type == 'cuda':
        if hasattr(torch.amp, 'GradScaler'):
            scaler = torch.amp.GradScaler('cuda')
        else:  # pragma: no cover  (torch < 2.3)
            scaler = torch.cuda.amp.GradScaler()
    amp_dtype = ('off' if not args.amp else
                 'float16' if device.type == 'cuda' else 'bfloat16')

    # synthetic features of the train set, clustered into num_clusters
    t0 = time.perf_counter()
    feat_dim = model.feat_dim
    feats, pids = make_features(
        args.num_images, args.num_clusters, feat_dim, noise=args.noise,
        seed=args.seed)
    feats_s = time.perf_counter() - t0
    timer = Timer(device)
    start = timer.now()
    model.set_pseudo_labels(pids, torch.from_numpy(feats))
    memory_s = timer.now() - start

    header = [
        f'device: {device_name(device)}',
        f'torch {torch.__version__}' +
        (f', CUDA {torch.version.cuda}, cuDNN '
         f'{torch.backends.cudnn.version()}, cudnn.benchmark '
         f'{cudnn_benchmark} (config env_cfg)'
         if device.type == 'cuda' else
         f', {torch.get_num_threads()} threads (OMP_NUM_THREADS='
         f'{os.environ.get("OMP_NUM_THREADS", "unset")}), load average '
         f'{load_average()}'),
        f'AMP: {amp_dtype}' +
        (' + GradScaler' if scaler is not None else '') +
        f'; channels-last: {args.channels_last}; inputs: uint8 BGR via '
        f'the data preprocessor ({args.collate} collate)',
        f'config: {args.config}; {model_cfg["backbone"]["type"]}-'
        f'{model_cfg["backbone"].get("depth", "")}, feature dim '
        f'{feat_dim}, bn_samples {bn_samples}, random weights',
        f'train: batch {args.batch} = {args.batch // num_instances} x K '
        f'{num_instances}, {args.height}x{args.width}, {args.warmup} + '
        f'{args.iters} iterations; memory {args.num_clusters} clusters; '
        f'optimizer {type(optimizer).__name__}',
        f'extraction: batch {args.extract_batch}, {args.extract_warmup} + '
        f'{args.extract_iters} batches',
        f'clustering: {cluster_cfg} on {args.num_images} x {feat_dim} '
        f'synthetic features (noise {args.noise:g}, built in '
        f'{feats_s:.1f}s)',
    ]
    for line in header:
        print(line)
    sys.stdout.flush()

    train_images = image_batches(2, args.batch, args.height, args.width,
                                 args.collate, args.seed)
    samples = [
        data_samples(idx)
        for idx in pk_batches(pids, 8, args.batch // num_instances,
                              num_instances, rng)
    ]
    train = bench_training(model, optimizer, scaler, train_images, samples,
                           args, device)
    del train_images
    extract_images = image_batches(2, args.extract_batch, args.height,
                                   args.width, args.collate, args.seed + 1)
    extract = bench_extraction(model, extract_images, args, device)
    del extract_images
    del model, optimizer
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    cluster_runs = bench_clustering(cluster_cfg, feats, device,
                                    host_too=device.type == 'cuda')
    cluster = cluster_runs['device']

    stage_s = dict(
        extraction=args.num_images / extract['images_per_s'],
        clustering=cluster['seconds'],
        training=iters_per_epoch * args.batch / train['images_per_s'])
    epoch_s = sum(stage_s.values())
    share = {k: 100 * v / epoch_s for k, v in stage_s.items()}

    def gib(v):
        return 'n/a' if v is None else f'{v:.2f}'

    rows = [['', 'images/s', 's/batch', 'peak GiB (device)']]
    rows.append(['training', f'{train["images_per_s"]:.1f}',
                 f'{train["s_per_iter"]:.4f}', gib(train['peak_gib'])])
    rows.append(['extraction', f'{extract["images_per_s"]:.1f}',
                 f'{extract["s_per_batch"]:.4f}', gib(extract['peak_gib'])])
    table1 = fmt_table(rows)
    stages = ', '.join(f'{k} {v:.2f}s'
                       for k, v in cluster['timings'].items())
    cluster_line = (
        f'clustering on the {device.type}: {cluster["seconds"]:.2f}s '
        f'({stages}); {cluster["clusters"]} clusters, '
        f'{cluster["outliers"]} outliers' +
        (f'; peak {cluster["peak_gib"]:.2f} GiB'
         if cluster['peak_gib'] is not None else ''))
    rows = [['epoch stage', 'seconds', 'share']]
    details = dict(
        extraction=f'{args.num_images} images / extraction images/s',
        clustering='measured',
        training=f'{iters_per_epoch} iters x {args.batch} / training '
        'images/s')
    for k in STAGES:
        rows.append([f'{k} ({details[k]})', f'{stage_s[k]:.2f}',
                     f'{share[k]:.1f}%'])
    rows.append(['epoch', f'{epoch_s:.2f}', '100.0%'])
    table2 = fmt_table(rows)
    notes = [
        f'iters_per_epoch {iters_per_epoch} ({ipe_source}); projected '
        f'{epochs} epochs: {epochs * epoch_s:.0f}s = '
        f'{epochs * epoch_s / 3600:.2f} h (without data loading, '
        'validation, logging, checkpoints)',
        f'training loss {train["loss_first"]:.3f} -> '
        f'{train["loss_last"]:.3f} over the timed iterations; memory '
        f'rebuild (set_pseudo_labels, not in the epoch) {memory_s:.2f}s',
    ]
    if 'host' in cluster_runs:
        host = cluster_runs['host']
        stages = ', '.join(f'{k} {v:.2f}s'
                           for k, v in host['timings'].items())
        host_epoch = epoch_s - cluster['seconds'] + host['seconds']
        notes.append(
            f'clustering with the features on the host (numpy, as '
            f'PseudoLabelHook passes them): {host["seconds"]:.2f}s '
            f'({stages}); the epoch would be {host_epoch:.2f}s, clustering '
            f'{100 * host["seconds"] / host_epoch:.1f}% of it')
    if hook_cfg is not None and hook_cfg.get('camera_normalize'):
        notes.append('the config standardises the features per camera '
                     'before clustering (camera_normalize); not timed')

    print(table1)
    print(cluster_line)
    print(table2)
    for note in notes:
        print(note)

    cmd = 'python benchmarks/bench_train.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    print('\nFor the docs:\n')
    print('```\n$ ' + cmd.strip())
    for line in header:
        print(line)
    print(table1)
    print(cluster_line)
    print(table2)
    for note in notes:
        print(note)
    print('```')

    ok = train['finite'] and cluster['clusters'] > 0
    if args.out:
        result = dict(
            args=vars(args),
            device=device_name(device),
            torch=torch.__version__,
            cuda=torch.version.cuda,
            amp_dtype=amp_dtype,
            channels_last=args.channels_last,
            iters_per_epoch=iters_per_epoch,
            iters_per_epoch_source=ipe_source,
            epochs=epochs,
            clusterer=cluster_cfg,
            training=train,
            extraction=extract,
            clustering=cluster_runs,
            memory_rebuild_s=memory_s,
            epoch=dict(seconds=epoch_s, stages=stage_s, share=share,
                       projected_s=epochs * epoch_s),
            ok=ok)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    if not train['finite']:
        print('a training loss was not finite', file=sys.stderr)
    if cluster['clusters'] == 0:
        print('the clusterer found no cluster', file=sys.stderr)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
