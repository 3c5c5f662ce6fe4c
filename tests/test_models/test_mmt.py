"""MMT: mean teacher update, classifier re-initialisation, loss assembly."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reidkit.models import MMT, MeanTeacher
from reidkit.models.losses import (CrossEntropyLabelSmooth, SoftEntropyLoss,
                                   SoftTripletLoss, TripletLoss)
from reidkit.structures import ReIDDataSample


def tiny_mmt(**kwargs):
    cfg = dict(
        backbone=dict(type='ResNet', depth=18, last_stride=1),
        neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
        num_classes=5)
    cfg.update(kwargs)
    model = MMT(**cfg)
    model.init_weights()
    return model


def samples(n):
    out = []
    for i in range(n):
        s = ReIDDataSample()
        s.set_metainfo(dict(sample_idx=i, camid=i % 2, is_query=False))
        s.gt_pid, s.gt_label = -1, -1
        out.append(s)
    return out


# ---------------------------------------------------------------- teacher
def test_mean_teacher_formula_with_warm_up():
    student = nn.Linear(1, 1, bias=False)
    teacher = MeanTeacher(student, alpha=0.6)
    w = teacher.module.weight
    values = [2.0, 4.0, 8.0, 16.0]
    expected = []
    avg = None
    for t, v in enumerate(values):
        student.weight.data.fill_(v)
        teacher.update_parameters(student)
        # alpha_t = min(1 - 1 / (t + 1), 0.6): 0, 0.5, 0.6, 0.6
        a = min(1 - 1 / (t + 1), 0.6)
        avg = v if avg is None else a * avg + (1 - a) * v
        expected.append(avg)
        assert w.item() == pytest.approx(avg)
    # by hand: 2; 0.5*2+0.5*4 = 3; 0.6*3+0.4*8 = 5; 0.6*5+0.4*16 = 9.4
    assert expected == pytest.approx([2, 3, 5, 9.4])
    assert int(teacher.steps) == 4
    assert not w.requires_grad


def test_mean_teacher_keeps_its_own_buffers():
    student = nn.BatchNorm1d(2)
    teacher = MeanTeacher(student, alpha=0.999)
    student.running_mean.fill_(3.0)
    teacher.module.running_mean.fill_(-1.0)
    teacher.update_parameters(student)
    assert torch.equal(teacher.module.running_mean, torch.full((2, ), -1.))


def test_mean_teacher_rejects_bad_alpha():
    with pytest.raises(ValueError, match='alpha'):
        MeanTeacher(nn.Linear(1, 1), alpha=1.0)


# ----------------------------------------------------------------- model
def test_teachers_start_as_copies_and_update():
    torch.manual_seed(0)
    model = tiny_mmt()
    for net, teacher in zip(model.nets, model.teachers):
        for (k, a), b in zip(net.state_dict().items(),
                             teacher.module.state_dict().values()):
            assert torch.equal(a, b), k
    assert not torch.equal(model.nets[0].classifier.weight,
                           model.nets[1].classifier.weight)
    with torch.no_grad():
        model.nets[0].classifier.weight.add_(1.0)
    old = model.teachers[0].module.classifier.weight.clone()
    model.update_teachers()  # step 0: copy
    assert torch.equal(model.teachers[0].module.classifier.weight,
                       model.nets[0].classifier.weight)
    assert not torch.equal(old, model.teachers[0].module.classifier.weight)


def test_set_pseudo_labels_reinitialises_all_four_classifiers():
    torch.manual_seed(0)
    model = tiny_mmt()
    feats = torch.tensor([[1., 0.], [3., 0.], [0., 2.], [9., 9.]])
    feats = torch.cat([feats, torch.zeros(4, model.feat_dim - 2)], 1)
    before = model.nets[0].classifier.weight[3:].clone()
    model.set_pseudo_labels(np.array([0, 0, 1, -1]), feats)
    # cluster 0: mean (2, 0) -> (1, 0); cluster 1: (0, 2) -> (0, 1)
    centroids = torch.zeros(2, model.feat_dim)
    centroids[0, 0] = 1
    centroids[1, 1] = 1
    for m in (*model.nets, *(t.module for t in model.teachers)):
        assert torch.allclose(m.classifier.weight[:2], centroids)
    assert torch.equal(model.nets[0].classifier.weight[3:], before)
    assert int(model.num_clusters) == 2
    assert model.pseudo_labels.tolist() == [0, 0, 1, -1]
    with pytest.raises(ValueError, match='num_classes'):
        model.set_pseudo_labels(np.arange(4) * 2, feats)


def test_loss_is_the_weighted_sum_of_the_four_terms():
    torch.manual_seed(0)
    model = tiny_mmt(soft_ce_weight=0.3, soft_tri_weight=0.6).train()
    n = 8
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    model.set_pseudo_labels(labels, torch.randn(n, model.feat_dim))
    x1, x2 = torch.rand(n, 3, 32, 16), torch.rand(n, 3, 32, 16)
    # every net runs in train mode (batch statistics), so recomputing the
    # terms below gives the same outputs
    losses = model([x1, x2], samples(n), mode='loss')
    y = torch.as_tensor(labels)
    c = 3
    p1, _, l1 = model.nets[0](x1)
    p2, _, l2 = model.nets[1](x2)
    with torch.no_grad():
        tp1, _, tl1 = model.teachers[0](x1)
        tp2, _, tl2 = model.teachers[1](x2)
    l1, l2, tl1, tl2 = l1[:, :c], l2[:, :c], tl1[:, :c], tl2[:, :c]
    ce, tri = CrossEntropyLabelSmooth(0.1), TripletLoss(margin=None)
    sce, stri = SoftEntropyLoss(), SoftTripletLoss()
    expected = dict(
        loss_ce=0.7 * (ce(l1, y) + ce(l2, y)),
        loss_tri=0.4 * (tri(p1, y) + tri(p2, y)),
        loss_soft_ce=0.3 * (sce(l1, tl2) + sce(l2, tl1)),
        loss_soft_tri=0.6 * (stri(p1, tp2, y) + stri(p2, tp1, y)))
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value.item(), rel=1e-4)
    # at the start the classifiers are the centroids: 3 classes, CE > 0
    assert 0 < losses['loss_ce'].item() < 2 * 0.7 * math.log(3) + 1


def test_gradients_reach_students_only():
    torch.manual_seed(0)
    model = tiny_mmt().train()
    model.set_pseudo_labels(np.array([0, 0, 1, 1]), torch.randn(4, 512))
    x = [torch.rand(4, 3, 32, 16), torch.rand(4, 3, 32, 16)]
    losses = model(x, samples(4), mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is None for t in model.teachers for p in t.parameters())
    assert model.nets[0].backbone.conv1.weight.grad is not None
    assert model.nets[1].backbone.conv1.weight.grad is not None


def test_predict_reports_both_teachers_and_uses_the_best():
    torch.manual_seed(0)
    model = tiny_mmt().eval()
    with torch.no_grad():
        model.teachers[1].module.backbone.conv1.weight.mul_(2)
    x = torch.rand(3, 3, 32, 16)
    out = model.predict(x, samples(3))
    f1 = F.normalize(model.teachers[0](x)[1], dim=1)
    f2 = F.normalize(model.teachers[1](x)[1], dim=1)
    assert torch.allclose(out[0].pred_feature_t1, f1[0])
    assert torch.allclose(out[0].pred_feature_t2, f2[0])
    assert torch.allclose(out[0].pred_feature, f1[0])
    model.best_teacher.fill_(1)
    assert torch.allclose(model(x, mode='tensor'), f2)
    feats = model.pseudo_label_features(x)
    assert torch.allclose(feats, (f1 + f2) / 2)


def test_loss_needs_two_views_and_labels():
    model = tiny_mmt().train()
    x = torch.rand(4, 3, 32, 16)
    with pytest.raises(ValueError, match='MultiView'):
        model(x, samples(4), mode='loss')
    with pytest.raises(RuntimeError, match='PseudoLabelHook'):
        model([x, x], samples(4), mode='loss')


def test_pretrained_checkpoints(tmp_path):
    from reidkit.models import SupervisedReID
    torch.manual_seed(0)
    src = SupervisedReID(
        backbone=dict(type='ResNet', depth=18, last_stride=1),
        neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
        head=dict(type='IdentityClsHead', num_classes=7))
    path = str(tmp_path / 'seed1.pth')
    torch.save(dict(state_dict=src.state_dict()), path)
    model = tiny_mmt(pretrained=[path, path])
    for net in (*model.nets, *(t.module for t in model.teachers)):
        assert torch.equal(net.backbone.conv1.weight,
                           src.backbone.conv1.weight)
        assert torch.equal(net.neck.bn.running_var, src.neck.bn.running_var)
    with pytest.raises(FileNotFoundError, match='stage-I checkpoint'):
        tiny_mmt(pretrained=[path, str(tmp_path / 'missing.pth')])
    with pytest.raises(ValueError, match='two stage-I'):
        tiny_mmt(pretrained=[path])
