import math

import pytest
import torch
import torch.nn.functional as F

from reidkit.models import ClusterMemory

S = 1 / math.sqrt(2)


def _memory(rows, **kwargs):
    mem = ClusterMemory(feat_dim=len(rows[0]), **kwargs)
    mem.reset(torch.tensor(rows, dtype=torch.float32))
    return mem


def test_reset_normalises_and_resizes():
    mem = ClusterMemory(feat_dim=2)
    assert mem.num_clusters == 0
    mem.reset(torch.tensor([[3., 4.], [0., 2.], [1., 1.]]))
    assert mem.num_clusters == 3
    torch.testing.assert_close(
        mem.features, torch.tensor([[.6, .8], [0., 1.], [S, S]]))


def test_mean_update_is_sequential_in_batch_order():
    # m = 0.5. Cluster 0 starts at (1, 0).
    # sample (0, 1): 0.5(1,0) + 0.5(0,1) = (.5,.5) -> (1/√2, 1/√2)
    # sample (1, 0): 0.5(1/√2,1/√2) + 0.5(1,0) -> (cos 22.5°, sin 22.5°)
    # Cluster 1 (0, 1) with sample (0, 3) -> normalised (0, 1) stays.
    mem = _memory([[1., 0.], [0., 1.]], momentum=0.5)
    q = torch.tensor([[0., 1.], [0., 3.], [2., 0.]])
    mem.update(q, torch.tensor([0, 1, 0]))
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    torch.testing.assert_close(mem.features,
                               torch.tensor([[c, s], [0., 1.]]))
    # The other order ends elsewhere: (1,0) first keeps (1,0), then (0,1)
    # gives (1/√2, 1/√2).
    mem = _memory([[1., 0.], [0., 1.]], momentum=0.5)
    mem.update(torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([0, 0]))
    torch.testing.assert_close(mem.features[0], torch.tensor([S, S]))


def test_mean_update_momentum_is_weight_on_old_entry():
    # m = 0.1: new = 0.1 (1,0) + 0.9 (0,1) = (.1, .9) / |.|.
    mem = _memory([[1., 0.]], momentum=0.1)
    mem.update(torch.tensor([[0., 1.]]), torch.tensor([0]))
    expected = torch.tensor([.1, .9]) / math.hypot(.1, .9)
    torch.testing.assert_close(mem.features[0], expected)


def test_mean_update_matches_per_sample_loop():
    torch.manual_seed(0)
    mem = _memory(F.normalize(torch.randn(5, 8), dim=1).tolist(),
                  momentum=0.3)
    ref = mem.features.clone()
    q = torch.randn(40, 8)
    t = torch.randint(0, 5, (40, ))
    mem.update(q, t)
    for x, y in zip(F.normalize(q, dim=1), t.tolist()):
        e = 0.3 * ref[y] + 0.7 * x
        ref[y] = e / e.norm()
    torch.testing.assert_close(mem.features, ref)


def test_hard_update_uses_least_similar_positive_once_per_cluster():
    # Cluster 0 at (1,0); positives (1,0) (sim 1) and (.6,.8) (sim .6):
    # the hardest is (.6,.8): 0.5(1,0)+0.5(.6,.8) = (.8,.4) -> /0.8944.
    # Cluster 1 at (0,1) with one positive (1,0): (.5,.5) -> (1/√2,1/√2).
    mem = _memory([[1., 0.], [0., 1.]], momentum=0.5, update='hard')
    q = torch.tensor([[1., 0.], [0.6, 0.8], [1., 0.]])
    mem.update(q, torch.tensor([0, 0, 1]))
    n = math.hypot(.8, .4)
    torch.testing.assert_close(
        mem.features, torch.tensor([[.8 / n, .4 / n], [S, S]]))


def test_loss_and_gradient_equal_the_formula():
    torch.manual_seed(0)
    tau = 0.05
    mem = _memory(F.normalize(torch.randn(4, 6), dim=1).tolist(),
                  temperature=tau)
    phi = mem.features.clone()
    q = torch.randn(3, 6, requires_grad=True)
    y = torch.tensor([2, 0, 2])
    loss = mem(q, y)
    # Formula: mean_b -log softmax(q̂_b·φ / τ)[y_b].
    qh = q.detach() / q.detach().norm(dim=1, keepdim=True)
    logits = qh @ phi.t() / tau
    p = logits.softmax(dim=1)
    expected = -(p[torch.arange(3), y].log()).mean()
    torch.testing.assert_close(loss, expected)
    # dL/dq̂_b = (Σ_c p_bc φ_c - φ_y_b) / (τ B); through the normalisation
    # dL/dq_b = (I - q̂ q̂ᵀ) dL/dq̂_b / |q_b|.
    g_hat = (p @ phi - phi[y]) / (tau * 3)
    proj = g_hat - (g_hat * qh).sum(1, keepdim=True) * qh
    expected_grad = proj / q.detach().norm(dim=1, keepdim=True)
    loss.backward()
    torch.testing.assert_close(q.grad, expected_grad)


def test_update_between_forward_and_backward_keeps_forward_memory():
    torch.manual_seed(1)
    mem = _memory(F.normalize(torch.randn(3, 4), dim=1).tolist())
    before = mem.features.clone()
    q = torch.randn(2, 4, requires_grad=True)
    y = torch.tensor([0, 1])
    mem(q, y).backward()
    grad_ref = q.grad.clone()
    q.grad = None
    mem2 = _memory(before.tolist())
    loss = mem2(q, y)
    mem2.update(q.detach(), y)  # the algorithm updates before backward
    loss.backward()
    torch.testing.assert_close(q.grad, grad_ref)
    assert not torch.equal(mem2.features, before)
    assert not mem2.features.requires_grad


def test_state_dict_round_trip_resizes():
    mem = _memory([[1., 0.], [0., 1.], [S, S]])
    fresh = ClusterMemory(feat_dim=2)
    fresh.load_state_dict(mem.state_dict())
    torch.testing.assert_close(fresh.features, mem.features)


def test_bad_input_errors():
    with pytest.raises(ValueError, match='update'):
        ClusterMemory(feat_dim=2, update='median')
    with pytest.raises(ValueError, match='old'):
        ClusterMemory(feat_dim=2, momentum=1.0)
    with pytest.raises(RuntimeError, match='reset'):
        ClusterMemory(feat_dim=2)(torch.ones(1, 2), torch.tensor([0]))
    mem = _memory([[1., 0.]])
    with pytest.raises(ValueError, match='outliers'):
        mem(torch.ones(1, 2), torch.tensor([-1]))
    with pytest.raises(ValueError, match='C x 2'):
        mem.reset(torch.ones(2, 3))
