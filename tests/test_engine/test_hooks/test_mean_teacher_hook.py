"""MeanTeacherHook and OptimizerResetHook without a full Runner."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from reidkit.engine.hooks import MeanTeacherHook, OptimizerResetHook


class FakeMMT(nn.Module):

    def __init__(self):
        super().__init__()
        self.register_buffer('best_teacher', torch.tensor(0))
        self.updates = 0

    def update_teachers(self):
        self.updates += 1


def test_updates_teachers_after_every_iteration():
    model = FakeMMT()
    runner = SimpleNamespace(model=model)
    hook = MeanTeacherHook()
    hook.before_train(runner)
    for i in range(3):
        hook.after_train_iter(runner, i)
    assert model.updates == 3


def test_selects_the_better_teacher_and_adds_best_metric():
    model = FakeMMT()
    runner = SimpleNamespace(model=model)
    hook = MeanTeacherHook()
    metrics = {'teacher1/mAP': 30.0, 'teacher2/mAP': 31.5}
    hook.after_val_epoch(runner, metrics)
    assert int(model.best_teacher) == 1
    assert metrics['best/mAP'] == 31.5
    metrics = {'teacher1/mAP': 40.0, 'teacher2/mAP': 31.5}
    hook.after_val_epoch(runner, metrics)
    assert int(model.best_teacher) == 0 and metrics['best/mAP'] == 40.0
    # other evaluators (e.g. a plain test run): nothing changes
    hook.after_val_epoch(runner, {'reid/mAP': 1.0})
    assert int(model.best_teacher) == 0


def test_needs_an_mmt_model():
    with pytest.raises(TypeError, match='update_teachers'):
        MeanTeacherHook().before_train(SimpleNamespace(model=nn.Linear(1, 1)))
    with pytest.raises(ValueError, match='two teachers'):
        MeanTeacherHook(metric_keys=('a', ))


def test_optimizer_reset_clears_adam_state_every_interval():
    net = nn.Linear(2, 1)
    wrapper = OptimWrapper(torch.optim.Adam(net.parameters(), lr=0.1))
    net(torch.ones(1, 2)).sum().backward()
    wrapper.step()
    assert len(wrapper.optimizer.state) == 2
    hook = OptimizerResetHook(interval=2)
    hook.before_train_epoch(SimpleNamespace(optim_wrapper=wrapper, epoch=1))
    assert len(wrapper.optimizer.state) == 2  # not a reset epoch
    hook.before_train_epoch(SimpleNamespace(optim_wrapper=wrapper, epoch=2))
    assert len(wrapper.optimizer.state) == 0
    assert wrapper.optimizer.param_groups[0]['lr'] == 0.1
    with pytest.raises(ValueError, match='interval'):
        OptimizerResetHook(interval=0)
