"""MMT end to end on the tiny synthetic set: stage I twice, stage II, and a
resume in the middle of stage II."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from reidkit.apis import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
PRETRAIN = osp.join(ROOT, 'configs', 'mmt',
                    'mmt_pretrain_r18_synthetic_a2b.py')
MMT_CFG = osp.join(ROOT, 'configs', 'mmt', 'mmt_r18_synthetic_a2b.py')

pytestmark = pytest.mark.slow


def _tiny(cfg, work_dir, cache, loaders, **opts):
    for loader in loaders:
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    cfg.merge_from_dict(opts)
    cfg.work_dir = str(work_dir)
    return prepare_config(cfg)


def pretrain_cfg(work_dir, cache, seed):
    cfg = Config.fromfile(PRETRAIN)
    cfg.custom_hooks[0]['dataloader']['num_workers'] = 0
    cfg.custom_hooks[0]['dataloader']['batch_size'] = 16
    return _tiny(
        cfg, work_dir, cache,
        ('train_dataloader', 'val_dataloader', 'test_dataloader',
         'custom_hooks.0.dataloader'), **{
             'model.head.num_classes': 16,
             'train_cfg.max_epochs': 1,
             'train_cfg.val_interval': 1,
             'train_dataloader.batch_size': 16,
             'train_dataloader.sampler.iters_per_epoch': 2,
             'default_hooks.checkpoint.interval': 1,
             'randomness.seed': seed,
         })


def mmt_cfg(work_dir, cache, ckpts, **extra):
    cfg = Config.fromfile(MMT_CFG)
    opts = {
        'model.num_classes': 16,
        'model.pretrained': ckpts,
        'custom_hooks.0.clusterer.num_clusters': 16,
        'custom_hooks.0.progress': False,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 16,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
    }
    opts.update(extra)
    return _tiny(cfg, work_dir, cache,
                 ('train_dataloader', 'val_dataloader', 'test_dataloader'),
                 **opts)


def test_mmt_two_stages_and_resume(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    ckpts = []
    for seed in (1, 2):
        work = tmp_path / f'seed{seed}'
        runner = Runner.from_cfg(pretrain_cfg(work, cache, seed))
        runner.train()
        bn_hook = [h for h in runner.hooks
                   if type(h).__name__ == 'TargetBNAdaptHook'][0]
        assert bn_hook.num_batches == 2
        ckpts.append(str(work / 'epoch_1.pth'))
    w1 = torch.load(ckpts[0], map_location='cpu')['state_dict']
    w2 = torch.load(ckpts[1], map_location='cpu')['state_dict']
    assert not torch.equal(w1['backbone.conv1.weight'],
                           w2['backbone.conv1.weight'])

    runner = Runner.from_cfg(mmt_cfg(tmp_path / 'mmt', cache, ckpts))
    runner.train()
    model = runner.model
    assert int(model.num_clusters) == 16
    # 2 epochs x 2 iterations: 4 teacher updates each
    assert [int(t.steps) for t in model.teachers] == [4, 4]
    log = open(glob.glob(str(tmp_path / 'mmt' / '*' / '*.log'))[0]).read()
    assert 'MMT network 1: loaded backbone and neck' in log
    assert 'Epoch 1 pseudo labels: 16 clusters' in log
    assert 'teacher1/mAP' in log and 'teacher2/mAP' in log
    assert 'is the better one' in log
    assert osp.isfile(tmp_path / 'mmt' / 'epoch_2.pth')
    assert glob.glob(str(tmp_path / 'mmt' / 'best_best_mAP_epoch_*.pth'))

    # resume from the end of epoch 1 and finish epoch 2
    resumed = Runner.from_cfg(
        mmt_cfg(tmp_path / 'resumed', cache, ckpts, resume=True,
                load_from=str(tmp_path / 'mmt' / 'epoch_1.pth')))
    resumed.train()
    assert resumed.epoch == 2
    assert [int(t.steps) for t in resumed.model.teachers] == [4, 4]
    saved = torch.load(str(tmp_path / 'mmt' / 'epoch_1.pth'),
                       map_location='cpu')['state_dict']
    assert int(saved['teachers.0.steps']) == 2
    assert saved['pseudo_labels'].numel() == len(
        resumed.train_dataloader.dataset)
