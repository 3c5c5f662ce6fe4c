"""Two CPU processes (gloo) against one: Cluster Contrast on tiny data."""
import glob
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from reidkit.apis import batch_accounting, prepare_config, setup_distributed
from reidkit.engine.hooks import SyncBNStatsHook

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')

pytestmark = pytest.mark.slow


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tiny_cc_cfg(work_dir, cache_root, max_epochs=2, **overrides):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': max_epochs,
        'train_cfg.val_interval': 100,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 16,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
        'default_hooks.logger.interval': 1,
        'custom_hooks.0.progress': False,
        'randomness.seed': 0,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache_root,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    opts.update(overrides)
    cfg.merge_from_dict(opts)
    # k-means (deterministic given the features) instead of DBSCAN, whose
    # eps is tuned for the 'small' set.
    cfg.custom_hooks[0]['clusterer'] = dict(
        type='KMeans', num_clusters=8, backend='sklearn', seed=0)
    cfg.work_dir = str(work_dir)
    return prepare_config(cfg)


class Recorder(Hook):
    """Keeps the pseudo labels each epoch starts with, and the start."""
    priority = 'VERY_LOW'  # after the PseudoLabelHook

    def __init__(self):
        self.labels = {}
        self.start = None

    def before_train(self, runner):
        self.start = (runner.epoch, runner.iter)

    def before_train_epoch(self, runner):
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        self.labels[runner.epoch] = model.pseudo_labels.clone()


def _run(cfg, launcher, test=False):
    setup_distributed(cfg, launcher)
    runner = Runner.from_cfg(cfg)
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    out = dict(labels=rec.labels, start=rec.start,
               memory=model.memory.features.clone(),
               wrapper=type(runner.model).__name__,
               accounting=batch_accounting(cfg))
    if test:
        runner.test()
        out['metrics'] = dict(runner.test_evaluator.metrics[0].last_results
                              or {})
    return out


def _flat(results, prefix=''):
    flat = {}
    for key, value in results.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f'{prefix}{key}/'))
        elif not isinstance(value, str):
            flat[f'{prefix}{key}'] = np.asarray(value, dtype=float)
    return flat


def _worker(rank, port, cfg, test, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2')
    torch.set_num_threads(1)
    try:
        out[rank] = _run(cfg, 'pytorch', test)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _spawn(cfg, test=False):
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), cfg, test, out), nprocs=2,
             join=True)
    return [out[0], out[1]]


def test_two_processes_match_one(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    # The DDP runs write the features into one file (out of core) that
    # both ranks fill; the 1-process run keeps them in memory.
    ooc = {'custom_hooks.0.out_of_core': True}
    ranks = _spawn(tiny_cc_cfg(tmp_path / 'ddp', cache, **ooc), test=True)
    assert [r['wrapper'] for r in ranks] == ['MMDistributedDataParallel'] * 2
    assert ranks[0]['accounting'].startswith(
        'Batch accounting: 2 process(es) x 16 images = global batch 32; '
        'BatchNorm batch 16 (per process)')
    # Clustering ran once (rank 0) and reached both ranks.
    for epoch in (0, 1):
        assert torch.equal(ranks[0]['labels'][epoch],
                           ranks[1]['labels'][epoch])
    # The memories were updated from all-gathered features in the same
    # order, so both copies are identical after training.
    assert torch.equal(ranks[0]['memory'], ranks[1]['memory'])
    assert ranks[0]['memory'].abs().sum() > 0
    feats = np.load(tmp_path / 'ddp' / 'pseudo_label_features' /
                    'train_features.npy')
    assert feats.shape[1] == 512 and np.isfinite(feats).all()
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)

    # One process, same config and seed: the first clustering (of the
    # same initial network) gives the same pseudo labels.
    single = _run(tiny_cc_cfg(tmp_path / 'single', cache, max_epochs=1),
                  'none')
    assert single['wrapper'] != 'MMDistributedDataParallel'
    assert torch.equal(single['labels'][0], ranks[0]['labels'][0])

    # Evaluation: the DDP run's final model tested on 2 processes (above)
    # and on 1 process from its checkpoint give the same results.
    cfg = tiny_cc_cfg(tmp_path / 'eval', cache)
    cfg.load_from = str(tmp_path / 'ddp' / 'epoch_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.test()
    one = _flat(runner.test_evaluator.metrics[0].last_results)
    two = _flat(ranks[0]['metrics'])
    assert set(one) == set(two) and 'metrics/mAP' in one
    for key in one:
        np.testing.assert_allclose(one[key], two[key], atol=1e-4)

    # Resume the distributed run from its last checkpoint: it starts after
    # epoch 2 with the checkpoint's pseudo labels, then re-clusters.
    cfg = tiny_cc_cfg(tmp_path / 'ddp', cache, max_epochs=3, **ooc)
    cfg.resume = True
    resumed = _spawn(cfg)
    assert [r['start'] for r in resumed] == [(2, 4), (2, 4)]
    assert torch.equal(resumed[0]['labels'][2], resumed[1]['labels'][2])
    assert torch.equal(resumed[0]['memory'], resumed[1]['memory'])


def test_cpu_launch_without_torchrun_environment_fails_clearly(
        tmp_path, monkeypatch, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = tiny_cc_cfg(tmp_path, cache)
    with pytest.raises(SystemExit, match='tools/dist_train.sh'):
        setup_distributed(cfg, 'pytorch')
    cfg.sync_bn = 'torch'
    with pytest.raises(SystemExit, match='sync_bn'):
        setup_distributed(cfg, 'pytorch')
    with pytest.raises(SystemExit, match='mpi'):
        setup_distributed(tiny_cc_cfg(tmp_path, cache), 'mpi')
    cfg = tiny_cc_cfg(tmp_path, cache)
    cfg.sync_bn = 'torch'
    cfg.model.bn_samples = 8
    with pytest.raises(SystemExit, match='keep one'):
        setup_distributed(cfg, 'none')
    # single process: nothing to set up
    cfg = tiny_cc_cfg(tmp_path, cache)
    setup_distributed(cfg, 'none')
    assert cfg.launcher == 'none' and 'model_wrapper_cfg' not in cfg


def _sync_worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE='2')
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        model = torch.nn.Sequential(torch.nn.BatchNorm1d(2))
        model.register_buffer('labels', torch.tensor([rank, 7]))
        model[0].running_mean.fill_(float(rank))  # 0 and 1
        model[0].running_var.fill_(1.0 + 2 * rank)  # 1 and 3
        SyncBNStatsHook.sync(model)
        out[rank] = (model[0].running_mean.clone(),
                     model[0].running_var.clone(), model.labels.clone())
    finally:
        dist.destroy_process_group()


def test_sync_bn_stats_hook_averages_running_statistics():
    out = mp.Manager().dict()
    mp.spawn(_sync_worker, args=(_free_port(), out), nprocs=2, join=True)
    for rank in (0, 1):
        mean, var, labels = out[rank]
        assert torch.allclose(mean, torch.full((2, ), 0.5))
        assert torch.allclose(var, torch.full((2, ), 2.0))
        assert labels.tolist() == [rank, 7]  # other buffers untouched
    assert SyncBNStatsHook.sync(torch.nn.BatchNorm1d(2)) == 0  # 1 process


def test_dist_train_sh_runs_two_cpu_processes(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    opts = ['train_cfg.max_epochs=1',
            'train_dataloader.sampler.iters_per_epoch=2',
            'train_dataloader.batch_size=16']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.size=tiny',
                 f'{loader}.dataset.cache_root={cache}']
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
         '--work-dir', str(tmp_path), '--cfg-options', *opts],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = open(glob.glob(osp.join(tmp_path, '*', '*.log'))[0]).read()
    assert ('Batch accounting: 2 process(es) x 16 images = global batch '
            '32') in log
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))
    # and tools/dist_test.sh evaluates that checkpoint on 2 processes
    out = tmp_path / 'metrics.json'
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), CONFIG,
         osp.join(tmp_path, 'epoch_1.pth'), '2', '--work-dir',
         str(tmp_path / 'test'), '--out', str(out), '--cfg-options',
         *opts[3:]],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'mAP' in open(out).read()


def test_dist_scripts_print_usage():
    for script, args in (('dist_train.sh', ['a']), ('dist_test.sh', ['a']),
                         ('slurm_train.sh', ['a', 'b'])):
        proc = subprocess.run(
            ['bash', osp.join(ROOT, 'tools', script), *args],
            capture_output=True, text=True)
        assert proc.returncode == 2 and 'usage' in proc.stderr


def _mmt_worker(rank, port, cfg, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2')
    torch.set_num_threads(1)
    try:
        setup_distributed(cfg, 'pytorch')
        runner = Runner.from_cfg(cfg)
        runner.train()
        out[rank] = {
            k: v.detach().clone()
            for k, v in runner.model.module.state_dict().items()
        }
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_mmt_with_gds_h_on_two_processes(tmp_path, synthetic_tiny_root):
    from test_mmt_two_stages import mmt_cfg, pretrain_cfg
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    ckpts = []
    for seed in (1, 2):
        cfg = pretrain_cfg(tmp_path / f'seed{seed}', cache, seed)
        Runner.from_cfg(cfg).train()
        ckpts.append(str(tmp_path / f'seed{seed}' / 'epoch_1.pth'))
    cfg = mmt_cfg(tmp_path / 'mmt', cache, ckpts,
                  **{'train_cfg.max_epochs': 1})
    cfg.model.pair_losses = dict(gds=dict(type='GDSLoss', lambda_h=0.1))
    cfg.custom_hooks.append(dict(type='GDSStatsHook'))
    out = mp.Manager().dict()
    mp.spawn(_mmt_worker, args=(_free_port(), cfg, out), nprocs=2,
             join=True)
    # students, mean teachers (EMA of identical students), their BN
    # statistics (SyncBNStatsHook), pseudo labels and the GDS moments
    # (all-reduced) are the same on both ranks.
    # fetch each rank's state once (every out[i] copies it from the
    # manager process)
    one, two = out[0], out[1]
    assert one.keys() == two.keys()
    for key in one:
        assert torch.equal(one[key], two[key]), key
    assert int(one['teachers.0.steps']) == 2
    assert bool(one['pair_losses.0.gds.seen_neg'])
