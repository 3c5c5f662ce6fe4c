"""A NaN or infinite loss stops training before the optimiser step, with
a message naming the iteration and the loss term; the last checkpoint is
kept."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from reidkit.apis import prepare_config
from reidkit.models.utils import NonFiniteLossError, check_losses_finite
from tests.conftest import tiny_loader_options

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'baseline', 'supervised_r18_synthetic.py')


def test_check_losses_finite_names_term_and_iteration():
    hub = MessageHub.get_instance('test_finite_loss')
    hub.update_info('iter', 41)
    hub.update_info('epoch', 3)
    hub.update_info('last_ckpt', '/w/epoch_3.pth')
    check_losses_finite(dict(loss_ce=torch.tensor(1.0), acc=torch.tensor(
        float('nan'))))  # only loss terms are checked
    with pytest.raises(NonFiniteLossError) as info:
        check_losses_finite(dict(
            loss_ce=torch.tensor(0.5),
            loss_triplet=torch.tensor(float('inf')),
            loss_gds=[torch.tensor(1.0), torch.tensor(float('nan'))]))
    msg = str(info.value)
    assert 'iteration 42 (epoch 4)' in msg
    assert 'loss_triplet = inf' in msg and 'loss_gds = nan' in msg
    assert 'loss_ce' not in msg
    assert '/w/epoch_3.pth' in msg


@pytest.mark.slow
def test_nan_loss_stops_run_and_keeps_checkpoint(tmp_path,
                                                 synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 100,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 8, 'model.head.num_classes': 16,
        'default_hooks.checkpoint.interval': 1,
    }
    opts.update(tiny_loader_options(cache))
    cfg.merge_from_dict(opts)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(prepare_config(cfg))
    model = runner.model
    original_loss = model.loss

    def poisoned_loss(inputs, data_samples):
        losses = original_loss(inputs, data_samples)
        if runner.iter == 3:  # the 2nd iteration of epoch 2
            losses['loss_triplet'] = losses['loss_triplet'] * float('nan')
        return losses

    model.loss = poisoned_loss
    before = {}

    class Snapshot(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            before['w'] = runner.model.backbone.conv1.weight.detach().clone()

    runner.register_hook(Snapshot(), priority='LOWEST')
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    msg = str(info.value)
    assert 'iteration 4 (epoch 2)' in msg and 'loss_triplet = nan' in msg
    assert str(tmp_path / 'epoch_1.pth') in msg
    # the poisoned step did not touch the weights
    assert torch.equal(model.backbone.conv1.weight, before['w'])
    assert torch.isfinite(model.backbone.conv1.weight).all()
    assert not osp.exists(tmp_path / 'epoch_2.pth')
    state = torch.load(str(tmp_path / 'epoch_1.pth'), map_location='cpu')
    assert all(torch.isfinite(v).all() for v in state['state_dict'].values()
               if v.is_floating_point())
    assert open(tmp_path / 'last_checkpoint').read().endswith('epoch_1.pth')


def test_gradient_overflow_is_left_to_the_loss_scaler():
    """Under mixed precision a gradient overflow (finite loss, inf
    gradients) must not stop training: the check passes and the loss
    scaler skips the step and lowers its scale. (mmengine's
    AmpOptimWrapper needs a GPU; torch's scaler is used directly here.)"""
    weight = torch.nn.Parameter(torch.ones(4))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0**16)
    loss = (weight * torch.full((4, ), 1e35)).sum()
    losses = dict(loss_big=loss)
    check_losses_finite(losses)  # finite: no error
    scaler.scale(loss).backward()
    assert not torch.isfinite(weight.grad).all()  # scaled grads overflow
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(weight.detach(), torch.ones(4))  # step skipped
    assert scaler.get_scale() < 2.0**16
