"""GDSLoss against hand computations, momentum, gradients, DDP moments."""
import math
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reidkit.models.losses import GDSLoss
from reidkit.models.losses.gds import pair_distances
from reidkit.registry import MODELS

# Corners of a 3 x 4 rectangle: positives (0,1) and (2,3) at distance 3,
# negatives at 4, 5, 5, 4.
FEATS = torch.tensor([[0., 0.], [3., 0.], [0., 4.], [3., 4.]])
LABELS = torch.tensor([0, 0, 1, 1])


def softplus(x):
    return math.log1p(math.exp(x))


def test_first_batch_by_hand():
    # mu+ = 3, var+ = 0; mu- = 4.5, var- = ((0.5^2) * 4) / 4 = 0.25
    loss = GDSLoss(lambda_sigma=1.0, lambda_h=0.0, normalize=False)
    value = loss(FEATS, LABELS)
    assert value.item() == pytest.approx(softplus(-1.5) + 0.25, abs=1e-5)
    # GDS-H: sigma+ = 0, sigma- = 0.5, kappa 1: softplus(3 - 4) = 0.3133
    loss_h = GDSLoss(lambda_sigma=1.0, lambda_h=2.0, kappa=1.0,
                     normalize=False)
    value = loss_h(FEATS, LABELS)
    expected = softplus(-1.5) + 0.25 + 2 * softplus(-1.0)
    assert value.item() == pytest.approx(expected, abs=1e-5)
    assert loss.last_batch['pos_pairs'] == 2
    assert loss.last_batch['neg_pairs'] == 4


def test_negative_labels_take_part_in_no_pair():
    # two outliers (-1) far away: they would form a positive pair (label -1
    # twice) and six negatives if they were counted
    feats = torch.cat([FEATS, torch.tensor([[100., 0.], [0., 100.]])])
    labels = torch.cat([LABELS, torch.tensor([-1, -1])])
    loss = GDSLoss(lambda_sigma=1.0, normalize=False)
    value = loss(feats, labels)
    assert value.item() == pytest.approx(softplus(-1.5) + 0.25, abs=1e-5)
    assert loss.last_batch['pos_pairs'] == 2
    assert loss.last_batch['neg_pairs'] == 4


def test_momentum_update_and_commit():
    loss = GDSLoss(momentum=0.75, lambda_sigma=0.5, normalize=False)
    loss(FEATS, LABELS)
    assert float(loss.mu_pos) == 0  # nothing stored before commit
    assert loss.commit()
    assert loss.global_moments() == pytest.approx(
        dict(mu_pos=3.0, sigma_pos=0.0, mu_neg=4.5, sigma_neg=0.5))
    # second batch: everything twice as far apart
    value = loss(2 * FEATS, LABELS)
    # mu+ = 0.75*3 + 0.25*6 = 3.75; var+ = 0
    # mu- = 0.75*4.5 + 0.25*9 = 5.625; var- = 0.75*0.25 + 0.25*1 = 0.4375
    expected = softplus(3.75 - 5.625) + 0.5 * 0.4375
    assert value.item() == pytest.approx(expected, abs=1e-5)
    loss.commit()
    assert float(loss.mu_neg) == pytest.approx(5.625)
    assert float(loss.var_neg) == pytest.approx(0.4375)
    assert not loss.commit()  # nothing pending any more


def test_gradient_flows_through_the_batch_share_only():
    loss = GDSLoss(momentum=0.75, lambda_sigma=0.0, normalize=False)
    loss(FEATS, LABELS)
    loss.commit()
    x = (2 * FEATS).clone().requires_grad_(True)
    value = loss(x, LABELS)
    value.backward()
    # d/dx of softplus(mu+ - mu-) with mu = 0.75 * old + 0.25 * batch:
    # every positive pair distance has weight 0.25 / 2, negatives 0.25 / 4
    s = 1 / (1 + math.exp(-(3.75 - 5.625)))  # sigmoid
    # sample 0: positive partner 1 (d 6, direction -x), negatives 2 (d 8,
    # direction -y) and 3 (d 10, direction (-6, -8) / 10)
    g0 = s * (0.125 * torch.tensor([-1., 0.]) - 0.0625 *
              (torch.tensor([0., -1.]) + torch.tensor([-0.6, -0.8])))
    assert torch.allclose(x.grad[0], g0, atol=1e-5)


def test_a_step_separates_the_distributions():
    torch.manual_seed(0)
    emb = torch.nn.Parameter(torch.randn(12, 8))
    labels = torch.arange(12) // 3
    loss = GDSLoss(momentum=0.0, lambda_sigma=0.1, lambda_h=1.0)
    before = pair_distances(emb.detach(), labels)
    loss(emb, labels).backward()
    with torch.no_grad():
        emb -= 0.5 * emb.grad
    after = pair_distances(emb.detach(), labels)

    def mean(dists, side):
        return float(dists[side].mean())

    assert mean(after, 'pos') < mean(before, 'pos')
    assert mean(after, 'neg') > mean(before, 'neg')


def test_degenerate_batches_give_no_nan():
    loss = GDSLoss(lambda_sigma=1.0, lambda_h=1.0, normalize=False)
    # only positives: the separation terms need negatives -> only var+
    x = FEATS.clone().requires_grad_(True)
    value = loss(x, torch.zeros(4, dtype=torch.long))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    loss.commit()
    assert bool(loss.seen_pos) and not bool(loss.seen_neg)
    # only negatives, positives seen before: mu+ is a stored constant
    value = loss(FEATS, torch.arange(4))
    assert torch.isfinite(value)
    loss.commit()
    assert bool(loss.seen_neg)
    # a single sample: no pair at all, nothing to update
    mu = float(loss.mu_pos)
    assert loss(FEATS[:1], LABELS[:1]).item() >= 0
    assert not loss.commit() and float(loss.mu_pos) == mu
    # identical embeddings: zero distances, finite gradients
    same = torch.ones(4, 2, requires_grad=True)
    GDSLoss(lambda_h=1.0)(same, LABELS).backward()
    assert torch.isfinite(same.grad).all()


def test_builds_from_registry_and_validates():
    assert isinstance(MODELS.build(dict(type='GDSLoss')), GDSLoss)
    with pytest.raises(ValueError, match='momentum'):
        GDSLoss(momentum=1.0)
    with pytest.raises(ValueError, match='lambda_h'):
        GDSLoss(lambda_h=-1)
    with pytest.raises(ValueError, match='labels'):
        GDSLoss()(FEATS, LABELS[:3])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _two_steps(batches):
    """Loss values, committed moments and input gradients of two steps."""
    loss = GDSLoss(momentum=0.5, lambda_sigma=1.0, lambda_h=1.0)
    results = []
    for feats, labels in batches:
        feats = feats.clone().requires_grad_()
        value = loss(feats, labels)
        value.backward()
        loss.commit()
        results.append((value.detach(),
                        torch.stack([loss.mu_pos, loss.var_pos,
                                     loss.mu_neg, loss.var_neg]),
                        feats.grad))
    return results


def _ddp_worker(rank, port, steps, out):
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=2)
    try:
        out[rank] = _two_steps([step[rank] for step in steps])
    finally:
        dist.destroy_process_group()


def test_ddp_equals_one_process_on_the_global_batch():
    torch.manual_seed(0)
    # Unequal rank batches; identity 2 and 9 on both ranks (cross-rank
    # positives), an outlier (-1) on rank 1.
    steps = [
        [(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])),
         (torch.randn(5, 4), torch.tensor([2, 3, 3, -1, 4]))],
        [(torch.randn(4, 4), torch.tensor([9, 9, 5, 5])),
         (torch.randn(6, 4), torch.tensor([9, 6, 6, 7, 7, 7]))],
    ]
    out = mp.Manager().dict()
    mp.spawn(_ddp_worker, args=(_free_port(), steps, out), nprocs=2,
             join=True)
    single = _two_steps([(torch.cat([step[0][0], step[1][0]]),
                          torch.cat([step[0][1], step[1][1]]))
                         for step in steps])
    for t, (value, moments, grad) in enumerate(single):
        rows = [slice(0, len(steps[t][0][1])),
                slice(len(steps[t][0][1]), None)]
        for rank in (0, 1):
            r_value, r_moments, r_grad = out[rank][t]
            assert torch.allclose(r_value, value, atol=1e-6)
            assert torch.allclose(r_moments, moments, atol=1e-6)
            # DDP averages the two ranks' gradients: each rank carries
            # world_size x its share, so the average is the full gradient.
            assert torch.allclose(r_grad / 2, grad[rows[rank]], atol=1e-6)
