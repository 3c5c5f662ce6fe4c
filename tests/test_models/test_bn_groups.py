"""model.bn_samples: BatchNorm statistics over groups of the batch."""
import pytest
import torch
import torch.nn as nn

from reidkit.models.algorithms.base import (check_bn_samples,
                                            forward_in_bn_groups)
from reidkit.registry import MODELS


def _bn_net():
    bn = nn.BatchNorm1d(1, affine=False, momentum=0.5)
    return bn, (lambda x: (bn(x), ))


def test_each_group_is_normalised_with_its_own_statistics():
    bn, fn = _bn_net()
    # groups (0, 2) and (10, 30): each normalised to (-1, 1)
    x = torch.tensor([[0.], [2.], [10.], [30.]])
    out, = forward_in_bn_groups(fn, x, 2, training=True)
    assert torch.allclose(out.flatten(), torch.tensor([-1., 1., -1., 1.]),
                          atol=1e-3)
    # running mean: 0 -> 0.5 * 1 = 0.5 -> 0.5 * 0.5 + 0.5 * 20 = 10.25
    assert bn.running_mean.item() == pytest.approx(10.25)
    # the whole batch at once would mix the groups
    bn2, fn2 = _bn_net()
    whole, = forward_in_bn_groups(fn2, x, None, training=True)
    assert not torch.allclose(whole, out)


def test_eval_mode_and_small_batches_run_whole():
    calls = []

    def fn(x):
        calls.append(len(x))
        return (x, )

    forward_in_bn_groups(fn, torch.zeros(8, 1), 4, training=False)
    forward_in_bn_groups(fn, torch.zeros(4, 1), 4, training=True)
    forward_in_bn_groups(fn, torch.zeros(8, 1), 4, training=True)
    assert calls == [8, 4, 4, 4]


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match='multiple of bn_samples'):
        forward_in_bn_groups(lambda x: (x, ), torch.zeros(6, 1), 4, True)
    for bad in (1, 0, 2.5, '16'):
        with pytest.raises(ValueError, match='bn_samples'):
            check_bn_samples(bad)


def test_model_option_reaches_the_network():
    model = MODELS.build(
        dict(type='SupervisedReID', backbone=dict(type='ResNet', depth=18),
             neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
             head=dict(type='IdentityClsHead', num_classes=4), bn_samples=2))
    model.train()
    x = torch.randn(4, 3, 32, 16)
    pooled, feat = model.extract_feat(x)
    # the BN-neck of the first group normalises its two rows on their own
    first = model.neck.bn(pooled[:2])
    assert torch.allclose(feat[:2], first, atol=1e-5)
