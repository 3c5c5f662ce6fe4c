"""ResumeValHook: redo the validation that followed the resumed checkpoint."""
from types import SimpleNamespace

import pytest
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from reidkit.engine.hooks import ResumeValHook, validated_after_epoch
from reidkit.engine.hooks import resume_val_hook as module
from reidkit.registry import HOOKS


class FakeValLoop:

    def __init__(self):
        self.runs = 0

    def run(self):
        self.runs += 1


def _runner(epoch, max_epochs=10, val_interval=2, val_begin=1,
            dynamic_intervals=None, val=True, loop_type=EpochBasedTrainLoop):
    loop = object.__new__(loop_type)  # the attributes the rule reads
    loop._epoch = epoch
    loop._max_epochs = max_epochs
    loop.val_begin = val_begin
    loop.val_interval = val_interval
    milestones, intervals = [0], [val_interval]
    for milestone, interval in dynamic_intervals or []:
        milestones.append(milestone)
        intervals.append(interval)
    loop.dynamic_milestones, loop.dynamic_intervals = milestones, intervals
    return SimpleNamespace(epoch=epoch, train_loop=loop,
                           val_loop=FakeValLoop() if val else None)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(module, 'print_log', lambda *a, **k: None)


def test_registered():
    assert HOOKS.get('ResumeValHook') is ResumeValHook
    # after every other hook's before_train (CheckpointHook: VERY_LOW)
    assert ResumeValHook.priority == 'LOWEST'


@pytest.mark.parametrize('epoch, expected', [(2, True), (3, False),
                                             (4, True), (10, True)])
def test_validated_after_epoch(epoch, expected):
    assert validated_after_epoch(_runner(epoch), epoch) is expected


def test_validated_after_epoch_rules():
    # the last epoch is always validated
    assert validated_after_epoch(_runner(9, max_epochs=9), 9)
    # not before val_begin
    assert not validated_after_epoch(_runner(2, val_begin=3), 2)
    # dynamic intervals: every epoch from epoch 5 on
    assert validated_after_epoch(
        _runner(5, dynamic_intervals=[(5, 1)]), 5)
    assert not validated_after_epoch(_runner(5), 5)
    # no validation loop, or not an epoch-based loop
    assert not validated_after_epoch(_runner(2, val=False), 2)
    assert not validated_after_epoch(
        _runner(2, loop_type=IterBasedTrainLoop), 2)


@pytest.mark.parametrize('epoch, runs', [(0, 0), (2, 1), (3, 0)])
def test_revalidates_only_on_resume_after_a_validated_epoch(epoch, runs):
    runner = _runner(epoch)
    ResumeValHook().before_train(runner)
    assert runner.val_loop.runs == runs


def test_without_val_loop():
    runner = _runner(2, val=False)
    ResumeValHook().before_train(runner)  # nothing to run, no error
