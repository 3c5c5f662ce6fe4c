import math

import pytest
import torch

from reidkit.models import CrossEntropyLabelSmooth, TripletLoss


def test_label_smooth_ce_hand_computed():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    target = torch.tensor([0])
    z = math.exp(2) + 2
    logp = [2 - math.log(z), -math.log(z), -math.log(z)]
    eps = 0.1
    q = [1 - eps + eps / 3, eps / 3, eps / 3]
    expected = -sum(qi * li for qi, li in zip(q, logp))
    loss = CrossEntropyLabelSmooth(epsilon=eps)(logits, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    plain = CrossEntropyLabelSmooth(epsilon=0.0)(logits, target)
    assert plain.item() == pytest.approx(-logp[0], rel=1e-6)


def test_label_smooth_ce_gradient_matches_formula():
    logits = torch.randn(4, 5, requires_grad=True)
    target = torch.tensor([0, 3, 1, 1])
    CrossEntropyLabelSmooth(epsilon=0.1)(logits, target).backward()
    q = torch.full((4, 5), 0.1 / 5)
    q[torch.arange(4), target] += 0.9
    expected = (torch.softmax(logits.detach(), 1) - q) / 4
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_label_smooth_ce_bad_labels():
    with pytest.raises(ValueError, match='num_classes'):
        CrossEntropyLabelSmooth()(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_triplet_hand_computed():
    # 1-D points: identity 0 at 0 and 1, identity 1 at 3 and 7
    feats = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # d_ap = [1, 1, 4, 4]; d_an = [3, 2, 2, 6]
    d_ap = torch.tensor([1.0, 1.0, 4.0, 4.0])
    d_an = torch.tensor([3.0, 2.0, 2.0, 6.0])
    hard = TripletLoss(margin=0.3)(feats, labels)
    assert hard.item() == pytest.approx(
        torch.relu(d_ap - d_an + 0.3).mean().item(), abs=1e-5)
    assert hard.item() == pytest.approx((0 + 0 + 2.3 + 0) / 4, abs=1e-5)
    soft = TripletLoss(margin=None)(feats, labels)
    # MMT's form: -log(e^{d_an} / (e^{d_ap} + e^{d_an}))
    mmt = -torch.log(torch.exp(d_an) / (torch.exp(d_ap) +
                                        torch.exp(d_an))).mean()
    assert soft.item() == pytest.approx(mmt.item(), abs=1e-5)


def test_triplet_needs_positives():
    with pytest.raises(ValueError, match='num_instances >= 2'):
        TripletLoss()(torch.randn(3, 2), torch.tensor([0, 1, 2]))
