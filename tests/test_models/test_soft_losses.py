import math

import pytest
import torch

from reidkit.models.losses import (SoftEntropyLoss, SoftTripletLoss,
                                   hard_example_indices, hard_example_mining)
from reidkit.registry import MODELS

E = math.e


# ---------------------------------------------------------------- entropy
def _soft_entropy_by_hand():
    # student [[1, 2, 3], [0, 0, 1]], teacher [[0, 1, 0], [2, 0, 0]]
    lz0 = math.log(E + E**2 + E**3)
    logp0 = [1 - lz0, 2 - lz0, 3 - lz0]
    q0 = [1 / (2 + E), E / (2 + E), 1 / (2 + E)]
    lz1 = math.log(2 + E)
    logp1 = [-lz1, -lz1, 1 - lz1]
    q1 = [E**2 / (E**2 + 2), 1 / (E**2 + 2), 1 / (E**2 + 2)]
    row0 = -sum(q * lp for q, lp in zip(q0, logp0))
    row1 = -sum(q * lp for q, lp in zip(q1, logp1))
    return (row0 + row1) / 2


def test_soft_entropy_hand_computed():
    student = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    expected = _soft_entropy_by_hand()
    loss = SoftEntropyLoss()(student, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    weighted = SoftEntropyLoss(loss_weight=0.5)(student, teacher)
    assert weighted.item() == pytest.approx(0.5 * expected, rel=1e-6)
    # identical logits: loss is the mean entropy of the softmax
    same = SoftEntropyLoss()(student, student)
    p = torch.softmax(student, 1)
    ent = -(p * p.log()).sum(1).mean()
    assert same.item() == pytest.approx(ent.item(), rel=1e-6)


def test_soft_entropy_gradient_and_detached_teacher():
    torch.manual_seed(0)
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    SoftEntropyLoss()(student, teacher).backward()
    expected = (torch.softmax(student.detach(), 1) -
                torch.softmax(teacher.detach(), 1)) / 4
    assert torch.allclose(student.grad, expected, atol=1e-6)
    assert teacher.grad is None


def test_soft_entropy_bad_shapes():
    loss = SoftEntropyLoss()
    with pytest.raises(ValueError, match='same 2-D shape'):
        loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='same 2-D shape'):
        loss(torch.zeros(6), torch.zeros(6))


# ---------------------------------------------------------------- triplet
# 1-D points, labels [0, 0, 1, 1].
# student x = [0, 1, 3, 7]:
#   positives: ap = [1, 0, 3, 2], d_ap = [1, 1, 4, 4]
#   negatives: 0 -> {3, 7} closest 2 (3); 1 -> {2, 6} closest 2 (2);
#              2 -> {3, 2} closest 1 (2); 3 -> {7, 6} closest 1 (6)
#   an = [2, 2, 1, 1], d_an = [3, 2, 2, 6]
# teacher t = [0, 2, 5, 3]:
#   its own closest negatives would be [3, 3, 1, 1] (differs for anchors
#   0 and 1), but the loss reads it at the student's indices:
#   D'(i, ap_i) = [2, 2, 2, 2], D'(i, an_i) = [5, 3, 3, 1]
LABELS = torch.tensor([0, 0, 1, 1])
STUDENT = [0.0, 1.0, 3.0, 7.0]
TEACHER = [0.0, 2.0, 5.0, 3.0]
D_AP, D_AN = [1, 1, 4, 4], [3, 2, 2, 6]
T_AP, T_AN = [2, 2, 2, 2], [5, 3, 3, 1]


def _pair_soft_ce(d_ap, d_an, t_ap, t_an):
    """-(1/B) sum_i sum_j tau_ij log softmax(d)_ij, by hand."""
    total = 0.0
    for dp, dn, tp, tn in zip(d_ap, d_an, t_ap, t_an):
        lse = math.log(math.exp(dp) + math.exp(dn))
        tau_p = math.exp(tp) / (math.exp(tp) + math.exp(tn))
        tau_n = math.exp(tn) / (math.exp(tp) + math.exp(tn))
        total -= tau_p * (dp - lse) + tau_n * (dn - lse)
    return total / len(d_ap)


def _col(values, requires_grad=False):
    return torch.tensor(values)[:, None].requires_grad_(requires_grad)


def test_hard_example_indices():
    x = _col(STUDENT)
    dist = (x - x.t()).abs()
    idx_ap, idx_an = hard_example_indices(dist, LABELS)
    assert idx_ap.tolist() == [1, 0, 3, 2]
    assert idx_an.tolist() == [2, 2, 1, 1]
    t = _col(TEACHER)
    _, t_an = hard_example_indices((t - t.t()).abs(), LABELS)
    assert t_an.tolist() == [3, 3, 1, 1]
    # consistent with hard_example_mining's values
    d_ap, d_an = hard_example_mining(dist, LABELS)
    assert d_ap.tolist() == D_AP and d_an.tolist() == D_AN
    assert torch.equal(dist.gather(1, idx_ap[:, None]).squeeze(1), d_ap)
    assert torch.equal(dist.gather(1, idx_an[:, None]).squeeze(1), d_an)


def test_soft_triplet_hand_computed_student_indices():
    feats = _col(STUDENT, requires_grad=True)
    teacher = _col(TEACHER, requires_grad=True)
    loss = SoftTripletLoss()(feats, teacher, LABELS)
    expected = _pair_soft_ce(D_AP, D_AN, T_AP, T_AN)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    # had the negatives been mined on the teacher (an = [3, 3, 1, 1]),
    # the student would read D(0,3)=7, D(1,3)=6 and the teacher
    # D'(0,3)=3, D'(1,3)=1: a clearly different value.
    teacher_mined = _pair_soft_ce(D_AP, [7, 6, 2, 6], T_AP, [3, 1, 3, 1])
    assert abs(teacher_mined - expected) > 0.1
    assert loss.item() != pytest.approx(teacher_mined, abs=1e-3)

    loss.backward()
    assert teacher.grad is None
    # dL/dD_ij = (p_ij - tau_ij) / B on the two mined pairs, and
    # d|x_i - x_j| / dx_i = sign(x_i - x_j)
    grad = [0.0] * 4
    ap, an = [1, 0, 3, 2], [2, 2, 1, 1]
    for i in range(4):
        ep, en = math.exp(D_AP[i]), math.exp(D_AN[i])
        fp, fn = math.exp(T_AP[i]), math.exp(T_AN[i])
        for j, g in ((ap[i], ep / (ep + en) - fp / (fp + fn)),
                     (an[i], en / (ep + en) - fn / (fp + fn))):
            s = math.copysign(1.0, STUDENT[i] - STUDENT[j])
            grad[i] += g * s / 4
            grad[j] -= g * s / 4
    assert feats.grad.squeeze(1).tolist() == pytest.approx(grad, abs=1e-5)


def test_soft_triplet_teacher_equals_student_is_pair_entropy():
    feats = _col(STUDENT)
    loss = SoftTripletLoss()(feats, feats.clone(), LABELS)
    ent = 0.0
    for dp, dn in zip(D_AP, D_AN):
        pp = math.exp(dp) / (math.exp(dp) + math.exp(dn))
        ent -= pp * math.log(pp) + (1 - pp) * math.log(1 - pp)
    assert loss.item() == pytest.approx(ent / 4, abs=1e-5)


def test_soft_triplet_weight_and_normalize():
    torch.manual_seed(0)
    feats = torch.randn(6, 8)
    teacher = torch.randn(6, 8)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    base = SoftTripletLoss()(feats, teacher, labels)
    weighted = SoftTripletLoss(loss_weight=2.0)(feats, teacher, labels)
    assert weighted.item() == pytest.approx(2 * base.item(), rel=1e-6)
    normed = SoftTripletLoss(normalize_feature=True)(feats, teacher, labels)
    pre = SoftTripletLoss()(torch.nn.functional.normalize(feats, dim=1),
                            torch.nn.functional.normalize(teacher, dim=1),
                            labels)
    assert normed.item() == pytest.approx(pre.item(), rel=1e-5)
    # scaling the features changes nothing once normalised
    scaled = SoftTripletLoss(normalize_feature=True)(
        3 * feats, 0.5 * teacher, labels)
    assert scaled.item() == pytest.approx(normed.item(), rel=1e-5)


def test_soft_triplet_errors():
    loss = SoftTripletLoss()
    with pytest.raises(ValueError, match='num_instances >= 2'):
        loss(torch.randn(4, 2), torch.randn(4, 2),
             torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match='num_instances >= 2'):
        hard_example_indices(torch.rand(3, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='same 2-D shape'):
        loss(torch.randn(4, 2), torch.randn(4, 3), LABELS)
    with pytest.raises(ValueError, match='targets'):
        loss(torch.randn(4, 2), torch.randn(4, 2), torch.tensor([0, 1]))


def test_build_from_registry():
    ent = MODELS.build(dict(type='SoftEntropyLoss', loss_weight=0.5))
    assert isinstance(ent, SoftEntropyLoss) and ent.loss_weight == 0.5
    tri = MODELS.build(dict(type='SoftTripletLoss', normalize_feature=True))
    assert isinstance(tri, SoftTripletLoss) and tri.normalize_feature
    assert tri.loss_weight == 1.0
