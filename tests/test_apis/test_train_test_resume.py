"""Runner smoke runs on the tiny synthetic set: train, test, resume."""
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from reidkit.apis import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'baseline', 'supervised_r18_synthetic.py')

pytestmark = pytest.mark.slow


def tiny_cfg(work_dir, cache_root, name, **overrides):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 1,
        'train_dataloader.sampler.iters_per_epoch': 3,
        'train_dataloader.batch_size': 16,
        'model.head.num_classes': 16,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
        'default_hooks.logger.interval': 1,
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
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    return prepare_config(cfg)


def test_train_test_resume(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    runner = Runner.from_cfg(tiny_cfg(tmp_path, cache, 'first'))
    runner.train()
    assert runner.epoch == 2 and runner.iter == 6
    metrics = runner.test()
    assert set(metrics) == {'reid/mAP', 'reid/rank1', 'reid/rank5',
                            'reid/rank10', 'reid/mINP'}
    assert 0 < metrics['reid/mAP'] <= 100
    ckpt1 = osp.join(tmp_path, 'epoch_1.pth')
    assert osp.isfile(ckpt1) and osp.isfile(osp.join(tmp_path,
                                                     'epoch_2.pth'))

    # Resume from epoch 1 (needs the torch.load safe-globals fix).
    resumed = Runner.from_cfg(
        tiny_cfg(tmp_path / 'resumed', cache, 'resumed', resume=True,
                 load_from=ckpt1))
    loaded = {}

    class Spy:
        priority = 'VERY_LOW'

        def before_train_epoch(self, runner):
            if not loaded:
                loaded['epoch'] = runner.epoch
                loaded['iter'] = runner.iter
                loaded['weight'] = runner.model.backbone.conv1.weight.clone()

    from mmengine.hooks import Hook
    spy = type('SpyHook', (Hook, ), dict(
        priority='VERY_LOW',
        before_train_epoch=Spy.before_train_epoch))()
    resumed.register_hook(spy)
    resumed.train()
    state = torch.load(ckpt1, map_location='cpu')  # weights_only default
    assert loaded['epoch'] == 1 and loaded['iter'] == 3
    assert torch.equal(loaded['weight'],
                       state['state_dict']['backbone.conv1.weight'])
    assert resumed.epoch == 2 and resumed.iter == 6


def test_tools_test_writes_json(tmp_path, synthetic_tiny_root, monkeypatch,
                                capsys):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = tiny_cfg(tmp_path / 'train', cache, 'cli',
                   **{'train_cfg.max_epochs': 1})
    Runner.from_cfg(cfg).train()
    cfg_path = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_path))
    out = tmp_path / 'out' / 'metrics.json'
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import test as test_tool
        monkeypatch.setattr(sys, 'argv', [
            'test.py', str(cfg_path),
            str(tmp_path / 'train' / 'epoch_1.pth'), '--out', str(out),
            '--work-dir', str(tmp_path / 'test')
        ])
        test_tool.main()
    finally:
        sys.path.remove(osp.join(ROOT, 'tools'))
    printed = capsys.readouterr().out
    assert '| model | protocol | mAP |' in printed
    res = json.loads(out.read_text())
    assert res['protocol'] == 'standard'
    assert len(res['cmc']) == 50 and res['cmc'] == sorted(res['cmc'])
    assert set(res['metrics']) == {'mAP', 'rank1', 'rank5', 'rank10', 'mINP'}
    assert res['num_query'] > 0 and res['num_gallery'] > 0
