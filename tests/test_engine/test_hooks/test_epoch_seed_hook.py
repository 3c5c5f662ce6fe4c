"""EpochSeedHook: per-epoch seeds of python, numpy, torch and the workers."""
import os.path as osp
import random
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from torch.utils.data import DataLoader, Dataset

from reidkit.engine.hooks import EpochSeedHook, epoch_seed, seed_everything
from reidkit.engine.hooks import epoch_seed_hook as module
from reidkit.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))


class RandomDraws(Dataset):
    """Every item is one draw of python's, numpy's and torch's RNG."""

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return (random.random(), float(np.random.rand()),
                float(torch.rand(())))


def _loader(num_workers=0, persistent_workers=False, worker_init_fn=None):
    return DataLoader(
        RandomDraws(),
        batch_size=2,
        num_workers=num_workers,
        persistent_workers=persistent_workers,
        worker_init_fn=worker_init_fn)


def _runner(seed=7, epoch=0, loader=None, it=None):
    loader = _loader() if loader is None else loader
    if it is None:
        it = epoch * len(loader)
    return SimpleNamespace(seed=seed, epoch=epoch, iter=it,
                           train_dataloader=loader)


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(())),
            int(torch.empty((), dtype=torch.int64).random_()))


def _streams(hook, runner):
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    return _draws()


@pytest.fixture
def logs(monkeypatch):
    calls = []
    monkeypatch.setattr(
        module, 'print_log',
        lambda msg, logger=None, level=None: calls.append((msg, level)))
    return calls


def test_epoch_seed_is_a_hash():
    s = epoch_seed(7, 3, 1)
    assert s == epoch_seed(7, 3, 1) and 0 <= s < 2**31
    others = {
        epoch_seed(7, 4, 1),
        epoch_seed(7, 3, 0),
        epoch_seed(8, 3, 1),
        epoch_seed(7, 3, 1, module.WORKER_STREAM)
    }
    assert s not in others and len(others) == 4
    # not seed + epoch: shifting both does not give the same seed
    assert epoch_seed(7, 4) != epoch_seed(8, 3)
    assert 0 <= epoch_seed(-1, 0) < 2**31  # negative seeds are accepted


def test_seed_everything():
    seed_everything(5)
    first = _draws()
    random.random(), np.random.rand(), torch.rand(3)
    seed_everything(5)
    assert _draws() == first


def test_registered_and_in_the_default_runtime():
    assert HOOKS.get('EpochSeedHook') is EpochSeedHook
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py'))
    assert cfg.default_hooks.epoch_seed == dict(type='EpochSeedHook')
    # before the PseudoLabelHook (NORMAL) draws from the RNG in the epoch
    assert EpochSeedHook.priority == 'VERY_HIGH'


def test_same_epoch_same_streams_whatever_came_before():
    hook = EpochSeedHook()
    a = _streams(hook, _runner(epoch=2))
    # anything drawn in between (validation, another run) is forgotten
    random.random(), np.random.rand(50), torch.rand(50)
    b = _streams(EpochSeedHook(), _runner(epoch=2))
    assert a == b
    assert hook.last_seed == epoch_seed(7, 2, 0)


def test_other_epoch_seed_or_rank_other_streams(monkeypatch):
    base = _streams(EpochSeedHook(), _runner(epoch=2))
    assert _streams(EpochSeedHook(), _runner(epoch=3)) != base
    assert _streams(EpochSeedHook(), _runner(seed=8, epoch=2)) != base
    monkeypatch.setattr(module, 'get_rank', lambda: 1)
    rank1 = _streams(EpochSeedHook(), _runner(epoch=2))
    assert rank1 != base
    # every value differs, not only one generator
    assert all(x != y for x, y in zip(rank1, base))
    # unless the ranks share their seeds
    assert _streams(EpochSeedHook(diff_rank_seed=False),
                    _runner(epoch=2)) == base


def test_worker_init_fn_swapped_per_epoch():
    default = partial(
        mmengine_worker_init_fn,
        num_workers=2,
        rank=0,
        seed=7,
        disable_subprocess_warning=True)
    loader = _loader(num_workers=2, worker_init_fn=default)
    hook = EpochSeedHook()
    hook.before_train_epoch(_runner(epoch=0, loader=loader))
    fn0 = loader.worker_init_fn
    assert fn0.func is mmengine_worker_init_fn
    assert fn0.keywords == dict(
        num_workers=2,
        rank=0,
        seed=epoch_seed(7, 0, 0, module.WORKER_STREAM),
        disable_subprocess_warning=True)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    fn1 = loader.worker_init_fn
    assert fn1.keywords['seed'] == epoch_seed(7, 1, 0, module.WORKER_STREAM)
    assert fn1.keywords['seed'] != fn0.keywords['seed']
    # also without any worker_init_fn (a loader built without a seed)
    loader = _loader(num_workers=1)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    assert loader.worker_init_fn.keywords == dict(
        num_workers=1, rank=0, seed=fn1.keywords['seed'])


def test_worker_init_fn_kept():
    hook = EpochSeedHook()
    default = partial(mmengine_worker_init_fn, num_workers=2, rank=0, seed=7)
    # persistent workers are started once: nothing to swap
    loader = _loader(num_workers=2, persistent_workers=True,
                     worker_init_fn=default)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    assert loader.worker_init_fn is default
    # no workers
    loader = _loader(num_workers=0, worker_init_fn=default)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    assert loader.worker_init_fn is default

    # a custom worker_init_fn is the user's
    def custom(worker_id):
        pass

    loader = _loader(num_workers=2, worker_init_fn=custom)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    assert loader.worker_init_fn is custom


def test_worker_draws_differ_per_epoch_and_repeat():
    """With a real worker process: mmengine's default gives the same
    draws every epoch; the hook's differ per epoch and repeat for the same
    epoch."""

    def draws(loader):
        return [tuple(map(float, row)) for batch in loader
                for row in zip(*batch)]

    default = partial(mmengine_worker_init_fn, num_workers=1, rank=0, seed=7)
    loader = _loader(num_workers=1, worker_init_fn=default)
    assert draws(loader) == draws(loader)  # mmengine: every epoch alike
    hook = EpochSeedHook()
    hook.before_train_epoch(_runner(epoch=0, loader=loader))
    epoch0 = draws(loader)
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    epoch1 = draws(loader)
    assert len(epoch0) == 4 and epoch0 != epoch1
    hook.before_train_epoch(_runner(epoch=0, loader=loader))
    assert draws(loader) == epoch0


def test_warns_once_when_persistent_workers_resume(logs):
    loader = _loader(num_workers=2, persistent_workers=True)
    hook = EpochSeedHook()
    hook.before_train(_runner(epoch=0, loader=loader))
    for epoch in range(2):  # a fresh run: no warning
        hook.before_train_epoch(_runner(epoch=epoch, loader=loader))
    assert logs == []
    hook.before_train(_runner(epoch=3, loader=loader))  # resumed
    for epoch in range(3, 6):
        hook.before_train_epoch(_runner(epoch=epoch, loader=loader))
    assert len(logs) == 1
    msg, level = logs[0]
    assert level == module.logging.WARNING
    assert 'persistent' in msg and 'num_workers=0' in msg
    assert 'persistent_workers=False' in msg


@pytest.mark.parametrize('num_workers, persistent', [(0, False), (2, False)])
def test_no_warning_when_exact(logs, num_workers, persistent):
    loader = _loader(num_workers=num_workers, persistent_workers=persistent)
    hook = EpochSeedHook()
    hook.before_train(_runner(epoch=3, loader=loader))
    hook.before_train_epoch(_runner(epoch=3, loader=loader))
    assert logs == []


def test_warns_on_a_mid_epoch_resume(logs):
    loader = _loader()  # 2 iterations per epoch
    hook = EpochSeedHook()
    hook.before_train(_runner(epoch=1, loader=loader, it=3))
    hook.before_train_epoch(_runner(epoch=1, loader=loader, it=3))
    assert len(logs) == 1 and 'middle of an epoch' in logs[0][0]
