"""TargetBNAdaptHook: target-domain BN statistics in source training."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from reidkit.apis import prepare_config
from reidkit.engine.hooks import TargetBNAdaptHook
from reidkit.models import ReIDDataPreprocessor
from reidkit.registry import HOOKS
from reidkit.structures import ReIDDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'baseline', 'supervised_r18_synthetic.py')


class TargetImages(Dataset):
    """Constant-per-image uint8 'images' with known channel statistics."""

    def __init__(self, n=4):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (n, 3, 4, 2), generator=g,
                                    dtype=torch.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return dict(inputs=self.images[idx],
                    data_samples=ReIDDataSample(sample_idx=idx))


class TinyBNModel(BaseModel):

    def __init__(self):
        super().__init__(data_preprocessor=ReIDDataPreprocessor(
            mean=[0, 0, 0], std=[1, 1, 1], bgr_to_rgb=False))
        # momentum=None: the running mean is the cumulative average of the
        # batch means, so after one full-dataset batch it is that mean.
        self.bn = nn.BatchNorm2d(3, momentum=None)
        self.fc = nn.Linear(3, 2)
        self.extract_calls = 0

    def extract_feat(self, inputs):
        self.extract_calls += 1
        return self.fc(self.bn(inputs).mean((2, 3)))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.extract_feat(inputs)


def fake_runner(model, it=0):
    return SimpleNamespace(model=model, seed=0, iter=it,
                           build_dataloader=Runner.build_dataloader)


def test_running_mean_moves_to_target_statistics_without_gradient():
    dataset = TargetImages(4)
    hook = TargetBNAdaptHook(
        dataloader=dict(batch_size=4, num_workers=0, dataset=dataset))
    model = TinyBNModel()
    model.eval()  # the hook forwards in train mode and restores eval
    runner = fake_runner(model)
    hook.before_train(runner)
    assert hook.loader.sampler.shuffle  # the default sampler shuffles
    assert torch.equal(model.bn.running_mean, torch.zeros(3))
    hook.before_train_iter(runner, 0)
    target_mean = dataset.images.float().mean((0, 2, 3))
    assert torch.allclose(model.bn.running_mean, target_mean, atol=1e-4)
    assert model.bn.num_batches_tracked.item() == 1
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert hook.num_batches == 1 and model.extract_calls == 1


def test_interval_and_cycling_restarts_the_sampler():
    hook = TargetBNAdaptHook(
        dataloader=dict(batch_size=2, num_workers=0,
                        dataset=TargetImages(4)),
        interval=2)
    model = TinyBNModel()
    hook.before_train(fake_runner(model))
    seen = []
    for it in range(8):  # batches at iterations 0, 2, 4, 6
        before = model.bn.num_batches_tracked.item()
        hook.before_train_iter(fake_runner(model, it), it)
        seen.append(model.bn.num_batches_tracked.item() - before)
    assert seen == [1, 0] * 4
    assert hook.num_batches == 4
    # 2 batches per pass: the third batch started a new pass (epoch 1)
    assert hook.loader.sampler.epoch == 1
    assert model.training  # train mode kept


def test_momentum_bn_moves_toward_target_mean():
    # The usual BN (momentum 0.1): each target batch pulls the running
    # mean towards the target statistics.
    dataset = TargetImages(4)
    hook = TargetBNAdaptHook(
        dataloader=dict(batch_size=4, num_workers=0, dataset=dataset))
    model = TinyBNModel()
    model.bn.momentum = 0.1
    hook.before_train(fake_runner(model))
    target_mean = dataset.images.float().mean((0, 2, 3))
    dist = [(model.bn.running_mean - target_mean).norm().item()]
    for it in range(3):
        hook.before_train_iter(fake_runner(model, it), it)
        dist.append((model.bn.running_mean - target_mean).norm().item())
    assert dist == sorted(dist, reverse=True) and dist[-1] < dist[0]
    assert torch.allclose(model.bn.running_mean,
                          target_mean * (1 - 0.9**3), atol=1e-3)


def test_multi_view_target_batches_forward_every_view():
    hook = TargetBNAdaptHook(
        dataloader=dict(batch_size=4, num_workers=0,
                        dataset=TargetImages(4)))
    model = TinyBNModel()
    hook.before_train(fake_runner(model))
    batch = next(iter(hook.loader))
    batch['inputs'] = [batch['inputs'], batch['inputs']]
    hook._iter = iter([batch])
    hook.adapt(fake_runner(model))
    assert model.extract_calls == 2
    assert model.bn.num_batches_tracked.item() == 2


def test_errors():
    with pytest.raises(ValueError, match='needs dataloader'):
        TargetBNAdaptHook()
    with pytest.raises(TypeError, match='config dict'):
        TargetBNAdaptHook(dataloader=[1, 2])
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match='interval must be an int'):
            TargetBNAdaptHook(dataloader=dict(dataset=TargetImages()),
                              interval=bad)
    hook = TargetBNAdaptHook(
        dataloader=dict(batch_size=2, num_workers=0,
                        dataset=TargetImages(4)))
    with pytest.raises(TypeError, match='extract_feat'):
        hook.before_train(fake_runner(nn.BatchNorm2d(3)))
    with pytest.raises(RuntimeError, match='not built'):
        hook.adapt(fake_runner(TinyBNModel()))
    empty = TargetBNAdaptHook(
        dataloader=dict(batch_size=2, num_workers=0,
                        dataset=TargetImages(0)))
    with pytest.raises(ValueError, match='yields no batch'):
        empty.before_train(fake_runner(TinyBNModel()))


def test_registered():
    hook = HOOKS.build(dict(type='TargetBNAdaptHook',
                            dataloader=dict(dataset=TargetImages())))
    assert isinstance(hook, TargetBNAdaptHook)
    assert hook.dataloader_cfg['sampler'] == dict(type='DefaultSampler',
                                                  shuffle=True)


# ----------------------------------------------------------------------
# Inside mmengine's Runner on the tiny synthetic set.


def tiny_cfg(work_dir, cache_root, with_hook):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1000,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 16,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1000,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache_root,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    cfg.merge_from_dict(opts)
    if with_hook:
        cfg.custom_hooks = [
            dict(type='TargetBNAdaptHook',
                 dataloader=dict(
                     batch_size=16, num_workers=0,
                     dataset=dict(type='SyntheticReID', size='tiny',
                                  style='other', cache_root=cache_root,
                                  pipeline=copy.deepcopy(
                                      cfg.train_pipeline))))
        ]
    cfg.work_dir = str(work_dir)
    return prepare_config(cfg)


def _bn_stats(model):
    return {
        name: buf.detach().clone()
        for name, buf in model.state_dict().items()
        if name.endswith(('running_mean', 'running_var',
                          'num_batches_tracked'))
    }


@pytest.mark.slow
def test_runner_adapts_bn_to_target(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    runner = Runner.from_cfg(tiny_cfg(tmp_path / 'hook', cache, True))
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, TargetBNAdaptHook)][0]
    assert hook.num_batches == 2  # one per iteration
    assert hook.loader.dataset.style == 'other'
    with_hook = _bn_stats(runner.model)

    plain = Runner.from_cfg(tiny_cfg(tmp_path / 'plain', cache, False))
    plain.train()
    without = _bn_stats(plain.model)

    assert with_hook.keys() == without.keys() and len(with_hook) > 0
    # every BN layer also saw the two target batches
    tracked = [k for k in with_hook if k.endswith('num_batches_tracked')]
    for key in tracked:
        assert with_hook[key].item() == without[key].item() + 2 == 4
    first = 'backbone.bn1.running_mean'
    assert first in with_hook
    assert not torch.allclose(with_hook[first], without[first])
