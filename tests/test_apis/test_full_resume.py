"""Full-state resume: kill a tiny run after its first epoch, resume it, and
compare it with an uninterrupted run.

Cluster Contrast + GDS-H and MMT: every run is ``tools/train.py`` in a
subprocess on the tiny synthetic set (CPU, fixed seed, one thread per
process). The killed run gets SIGKILL as soon as ``last_checkpoint`` names
``epoch_1.pth`` (mmengine writes that file after the checkpoint is
complete), i.e. during the validation after epoch 1 or epoch 2's
clustering or training; ``tools/train.py --resume`` then finishes it in
the same work dir. The resumed run must match the uninterrupted one bit
for bit: every checkpoint's model state (weights, BN statistics, pseudo
labels, cluster memory, GDS moments, mean teachers, MMT's best teacher),
optimiser and scheduler states, and every logged scalar (pseudo-label
statistics per epoch, losses and learning rates per iteration, validation
metrics per epoch, GDS statistics).

MMT's stage I (the TargetBNAdaptHook's cycled target batches) is checked
in process, resuming from two checkpoints.
"""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import reidkit  # noqa: F401 (allow-lists mmengine objects for torch.load)
from reidkit.apis import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
GDS_CFG = osp.join(ROOT, 'configs', 'gds', 'gds_h_cc_r18_synthetic.py')
MMT_CFG = osp.join(ROOT, 'configs', 'mmt', 'mmt_r18_synthetic_a2b.py')
PRETRAIN_CFG = osp.join(ROOT, 'configs', 'mmt',
                        'mmt_pretrain_r18_synthetic_a2b.py')
EPOCHS = 3
TIMEOUT = 600  # seconds per run, a safety net only

#: Logged values that are wall-clock times, not results.
_TIMING = ('time', 'data_time', 'eta', 'memory')

pytestmark = pytest.mark.slow


def _tiny(cfg, cache, num_workers, **overrides):
    """Tiny data, no data workers in evaluation, 3 epochs of 2 iterations,
    a checkpoint and a validation after every epoch; ``overrides`` last."""
    opts = {
        'train_cfg.max_epochs': EPOCHS,
        'train_cfg.val_interval': 1,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 8,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': EPOCHS,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 3,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        workers = num_workers if loader == 'train_dataloader' else 0
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache,
            f'{loader}.num_workers': workers,
            f'{loader}.persistent_workers': False,
        })
    opts.update(overrides)
    cfg.merge_from_dict(opts)
    return prepare_config(cfg)


def gds_cfg(cache):
    """Cluster Contrast + GDS-H (memory, pseudo labels, GDS moments, Adam)
    with a learning-rate milestone after epoch 2, so that the scheduler
    state matters in the resumed epochs."""
    cfg = Config.fromfile(GDS_CFG)
    cfg = _tiny(
        cfg, cache, 0, **{
            'param_scheduler.0.milestones': [2],
            'custom_hooks.0.progress': False,
            'custom_hooks.1.hist_interval': 100,
        })
    # k-means (deterministic given the features) instead of DBSCAN, whose
    # eps is tuned for the 'small' set.
    cfg.custom_hooks[0]['clusterer'] = dict(
        type='KMeans', num_clusters=6, backend='sklearn', seed=0)
    return cfg


def mmt_cfg(cache, num_workers=0):
    """MMT stage II from random initialisation (no stage-I checkpoints
    needed): two students, two mean teachers, the optimiser reset, the
    best-teacher selection after every validation."""
    cfg = Config.fromfile(MMT_CFG)
    return _tiny(
        cfg, cache, num_workers, **{
            'model.pretrained': None,
            'model.num_classes': 6,
            'custom_hooks.0.progress': False,
            'custom_hooks.0.clusterer.num_clusters': 6,
        })


# ----------------------------------------------------------------------
def _launch(cfg_path, work_dir, resume=False):
    """``tools/train.py`` in a subprocess, one thread, output to a file."""
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, TRAIN, cfg_path, '--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    log = open(osp.join(work_dir, 'stdout_resumed.txt' if resume else
                        'stdout.txt'), 'wb')
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    return proc


def _output(proc) -> str:
    proc.log_file.close()
    with open(proc.log_file.name, errors='replace') as f:
        return f.read()[-4000:]


def _finish(proc, what):
    try:
        rc = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f'{what} did not finish in {TIMEOUT} s:\n' +
                    _output(proc))
    assert rc == 0, f'{what} failed ({rc}):\n' + _output(proc)
    proc.log_file.close()


def _last_checkpoint(work_dir):
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return osp.basename(f.read().strip())
    except OSError:
        return None


def _kill_after_first_checkpoint(proc, work_dir):
    """SIGKILL ``proc`` once ``epoch_1.pth`` is complete.

    mmengine writes checkpoints in place (not atomically), but it writes
    ``last_checkpoint`` only after the checkpoint file is closed, so that
    file naming ``epoch_1.pth`` means the checkpoint is whole. The kill
    comes within one poll (20 ms) of that, well before the validation
    after epoch 1 ends (when mmengine may write ``epoch_1.pth`` again, if
    the validation finds a new best).
    """
    deadline = time.monotonic() + TIMEOUT
    while _last_checkpoint(work_dir) != 'epoch_1.pth':
        if proc.poll() is not None:
            pytest.fail('the run to be killed ended before epoch 1 was '
                        'saved:\n' + _output(proc))
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f'no epoch_1.pth after {TIMEOUT} s:\n' +
                        _output(proc))
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.log_file.close()
    assert proc.returncode == -signal.SIGKILL
    # Killed within epoch 2 (validation, clustering or training).
    assert _last_checkpoint(work_dir) == 'epoch_1.pth'


def _scalars(work_dir) -> dict:
    """``{(key, step): value}`` of the runs' ``scalars.json`` files, the
    later run overriding the earlier; wall-clock timings left out."""
    out = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                step = record.pop('step')
                for key, value in record.items():
                    if key in _TIMING or 'time' in key.split('/')[-1]:
                        continue
                    out[(key, step)] = value
    return out


def _assert_same(a, b, where):
    """Recursive bit-exact equality of checkpoint contents."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (
            f'{where}: keys {sorted(set(a) ^ set(b))[:5]} differ')
        for key in a:
            _assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def _compare_checkpoints(full_dir, resumed_dir, val_keys=()):
    """Compare ``epoch_{1,2,3}.pth``; return the last state dict.

    ``epoch_1.pth`` in ``resumed_dir`` is the killed run's, written before
    the validation after epoch 1. When that validation finds a new best,
    mmengine's CheckpointHook writes ``epoch_1.pth`` again, so the
    uninterrupted run's holds what the validation set (``val_keys``, e.g.
    MMT's ``best_teacher``); the resumed run recomputes it (ResumeValHook)
    before it trains, and ``epoch_2.pth`` / ``epoch_3.pth`` must match
    entirely.
    """
    for epoch in range(1, EPOCHS + 1):
        name = f'epoch_{epoch}.pth'
        # weights_only=True (torch's default): reidkit's allow-list must
        # cover everything a checkpoint holds.
        a = torch.load(osp.join(full_dir, name), map_location='cpu')
        b = torch.load(osp.join(resumed_dir, name), map_location='cpu')
        assert (a['meta']['epoch'], a['meta']['iter']) == (
            b['meta']['epoch'], b['meta']['iter']) == (epoch, 2 * epoch)
        assert a['state_dict']['pseudo_labels'].numel() > 0
        skip = val_keys if epoch == 1 else ()
        _assert_same({k: v for k, v in a['state_dict'].items()
                      if k not in skip},
                     {k: v for k, v in b['state_dict'].items()
                      if k not in skip}, f'{name} state_dict')
        _assert_same(a['optimizer'], b['optimizer'], f'{name} optimizer')
        _assert_same(a['param_schedulers'], b['param_schedulers'],
                     f'{name} param_schedulers')
    return a['state_dict']


def _kill_resume_and_compare(tmp_path, cfg, val_keys=()):
    """Run ``cfg`` uninterrupted and killed + resumed (concurrently, one
    thread each); compare; return the final state dict and the scalars."""
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    full_dir, resumed_dir = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    full = _launch(cfg_path, full_dir)
    killed = _launch(cfg_path, resumed_dir)
    _kill_after_first_checkpoint(killed, resumed_dir)
    resumed = _launch(cfg_path, resumed_dir, resume=True)
    _finish(resumed, 'the resumed run')
    _finish(full, 'the uninterrupted run')
    with open(resumed.log_file.name) as f:
        log = f.read()
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'ResumeValHook: the checkpoint of epoch 1' in log

    state = _compare_checkpoints(full_dir, resumed_dir, val_keys)
    expected, got = _scalars(full_dir), _scalars(resumed_dir)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing and not extra, (missing[:5], extra[:5])
    diff = OrderedDict((k, (expected[k], got[k])) for k in sorted(expected)
                       if expected[k] != got[k])
    assert not diff, f'logged values differ (full, resumed): {diff}'
    return state, expected


def _steps(scalars, key):
    return sorted(step for k, step in scalars if k == key)


def _check_logged(scalars, keys):
    """Every epoch's value of every key was compared (pseudo labels are
    logged at step = epoch before training it, metrics at step = epochs
    done)."""
    for key in keys:
        first = 0 if key.startswith('pseudo_label/') else 1
        steps = _steps(scalars, key)
        assert steps == list(range(first, first + EPOCHS)), (key, steps)


def test_kill_and_resume_cluster_contrast_gds(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    state, scalars = _kill_resume_and_compare(tmp_path, gds_cfg(cache))
    # the states the comparison covered
    assert state['memory.features'].shape[0] == 6
    assert bool(state['pair_losses.gds.seen_pos'])
    # the scheduler's milestone fell between the resumed epochs
    assert scalars[('lr', 2 * EPOCHS)] == pytest.approx(3.5e-5)
    assert scalars[('lr', 2 * EPOCHS - 2)] == pytest.approx(3.5e-4)
    _check_logged(scalars, [
        'pseudo_label/num_clusters', 'pseudo_label/nmi', 'reid/mAP',
        'gds/pair_losses_gds/mu_pos', 'gds/pair_losses_gds/sigma_neg'
    ])
    assert _steps(scalars, 'loss') == list(range(1, 2 * EPOCHS + 1))


def test_kill_and_resume_mmt(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    # one data worker, started anew every epoch: the EpochSeedHook seeds it
    state, scalars = _kill_resume_and_compare(
        tmp_path, mmt_cfg(cache, num_workers=1), val_keys=('best_teacher', ))
    # mean teachers: 2 updates per epoch each
    assert int(state['teachers.0.steps']) == int(
        state['teachers.1.steps']) == 2 * EPOCHS
    assert int(state['num_clusters']) == 6
    _check_logged(scalars, ['pseudo_label/num_clusters', 'teacher1/mAP',
                            'teacher2/mAP'])
    assert _steps(scalars, 'loss_soft_ce') == list(range(1, 2 * EPOCHS + 1))


def pretrain_cfg(cache, work_dir, **opts):
    """MMT stage I (supervised, TargetBNAdaptHook), no validation, one
    iteration per epoch; the target loader has 2 batches per pass."""
    cfg = Config.fromfile(PRETRAIN_CFG)
    target = cfg.custom_hooks[0]['dataloader']
    target.update(batch_size=48, num_workers=0)  # 95 images: 2 batches
    target['dataset'].update(size='tiny', cache_root=cache)
    opts.update({
        'model.head.num_classes': 16,
        'train_dataloader.sampler.iters_per_epoch': 1,
    })
    cfg = _tiny(cfg, cache, 0, **opts)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.work_dir = str(work_dir)
    return cfg


@pytest.fixture
def one_thread():
    """One intra-op thread, as in the subprocesses: on a busy CPU tiny
    batches run many times faster with one thread than with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resume_stage_one_target_bn_stream(tmp_path, synthetic_tiny_root,
                                           one_thread):
    """In process: the target-domain batches of MMT's stage I continue
    where they were (inside a pass, and at a pass boundary)."""
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    full = Runner.from_cfg(pretrain_cfg(cache, tmp_path / 'full'))
    full.train()
    hook = [h for h in full.hooks
            if type(h).__name__ == 'TargetBNAdaptHook'][0]
    assert len(hook.loader) == 2  # epoch 3 starts the second pass
    expected = torch.load(str(tmp_path / 'full' / f'epoch_{EPOCHS}.pth'),
                          map_location='cpu')
    # 1 target batch used (skip it), or 2 (a whole pass: the next starts
    # lazily, as in the uninterrupted run)
    for epoch in (1, 2):
        resumed = Runner.from_cfg(
            pretrain_cfg(cache, tmp_path / f'from{epoch}', resume=True,
                         load_from=str(tmp_path / 'full' /
                                       f'epoch_{epoch}.pth')))
        resumed.train()
        got = torch.load(
            str(tmp_path / f'from{epoch}' / f'epoch_{EPOCHS}.pth'),
            map_location='cpu')
        _assert_same(expected['state_dict'], got['state_dict'],
                     f'resumed from epoch {epoch}: state_dict')
        _assert_same(expected['optimizer'], got['optimizer'],
                     f'resumed from epoch {epoch}: optimizer')
