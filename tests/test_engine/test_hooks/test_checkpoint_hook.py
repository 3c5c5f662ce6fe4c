"""reidkit's CheckpointHook: atomic saves, old checkpoints removed only
after the new one is complete, a crash while saving loses nothing."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from reidkit.apis import prepare_config
from reidkit.engine.hooks.checkpoint_hook import (CheckpointHook,
                                                  atomic_write_text)
from reidkit.registry import HOOKS
from tests.conftest import tiny_loader_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'baseline', 'supervised_r18_synthetic.py')


def tiny_cfg(work_dir, cache_root, epochs=2, keep=1):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': 100,
        'train_dataloader.sampler.iters_per_epoch': 1,
        'train_dataloader.batch_size': 8,
        'model.head.num_classes': 16,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': keep,
        'default_hooks.logger.interval': 1,
    }
    opts.update(tiny_loader_options(cache_root))
    cfg.merge_from_dict(opts)
    cfg.work_dir = str(work_dir)
    return prepare_config(cfg)


def test_registered_under_mmengine_name():
    assert HOOKS.get('CheckpointHook') is CheckpointHook


def test_atomic_write_text(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text(path, 'a')
    atomic_write_text(path, 'b')
    assert open(path).read() == 'b'
    assert os.listdir(tmp_path) == ['last_checkpoint']


@pytest.mark.slow
def test_keeps_last_and_survives_crash_while_saving(tmp_path,
                                                    synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    runner = Runner.from_cfg(tiny_cfg(tmp_path, cache, epochs=2, keep=1))
    assert any(isinstance(h, CheckpointHook) for h in runner.hooks)
    runner.train()
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) \
        == ['epoch_2.pth']
    assert not any(f.endswith('.tmp') for f in os.listdir(tmp_path))
    assert open(tmp_path / 'last_checkpoint').read() == str(
        tmp_path / 'epoch_2.pth')
    good = torch.load(str(tmp_path / 'epoch_2.pth'), map_location='cpu')
    assert good['meta']['epoch'] == 2

    # A crash in the middle of writing epoch 3: the Runner's writer dies
    # after a partial temporary file.
    cfg = tiny_cfg(tmp_path, cache, epochs=3, keep=1)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)

    def crash(out_dir, filename, *args, **kwargs):
        with open(osp.join(out_dir, filename), 'wb') as f:
            f.write(b'partial')
        raise KeyboardInterrupt('killed while saving')

    resumed.save_checkpoint = crash
    with pytest.raises(KeyboardInterrupt):
        resumed.train()
    files = sorted(os.listdir(tmp_path))
    assert 'epoch_2.pth' in files and 'epoch_3.pth' not in files
    assert open(tmp_path / 'last_checkpoint').read() == str(
        tmp_path / 'epoch_2.pth')
    again = torch.load(str(tmp_path / 'epoch_2.pth'), map_location='cpu')
    assert torch.equal(again['state_dict']['backbone.conv1.weight'],
                       good['state_dict']['backbone.conv1.weight'])
