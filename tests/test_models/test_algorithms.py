import pytest
import torch

from reidkit.models import SupervisedReID
from reidkit.structures import ReIDDataSample


def tiny_model(**kwargs):
    cfg = dict(
        backbone=dict(type='ResNet', depth=18, last_stride=1),
        neck=dict(type='BNNeck', pooling=dict(type='GeMPooling')),
        head=dict(type='IdentityClsHead', num_classes=3))
    cfg.update(kwargs)
    return SupervisedReID(**cfg)


def batch(labels):
    samples = []
    for i, label in enumerate(labels):
        s = ReIDDataSample()
        s.set_metainfo(dict(sample_idx=i, camid=0, is_query=False))
        s.gt_pid, s.gt_label = label + 10, label
        samples.append(s)
    return torch.rand(len(labels), 3, 32, 16), samples


def test_forward_modes():
    model = tiny_model().eval()
    x, samples = batch([0, 0, 1, 1])
    feats = model(x, mode='tensor')
    assert feats.shape == (4, 512)
    out = model(x, samples, mode='predict')
    assert torch.allclose(torch.stack([s.pred_feature for s in out]), feats)
    assert out[0].flip_test is False
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(x, mode='bogus')


def test_loss_mode_and_train_step():
    torch.manual_seed(0)
    model = tiny_model().train()
    x, samples = batch([0, 0, 1, 1, 2, 2])
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_triplet', 'accuracy'}
    # with N(0, 0.001) classifier weights the CE starts near log(3)
    assert losses['loss_cls'].item() == pytest.approx(1.0986, abs=0.05)
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    from mmengine.optim import OptimWrapper
    data = dict(inputs=[(xi * 255).to(torch.uint8) for xi in x],
                data_samples=samples)
    log_vars = model.train_step(data, OptimWrapper(optim))
    assert 'loss' in log_vars and torch.isfinite(log_vars['loss'])


def test_flip_test_averages_mirrored_features():
    torch.manual_seed(0)
    model = tiny_model(test_cfg=dict(flip=True)).eval()
    plain = tiny_model().eval()
    plain.load_state_dict(model.state_dict())
    x, samples = batch([0, 1])
    expected = (plain(x) + plain(x.flip(3))) / 2
    assert torch.allclose(model(x), expected, atol=1e-5)
    assert model(x, samples, mode='predict')[0].flip_test is True


def test_unlabelled_batch_and_bad_test_cfg():
    model = tiny_model().train()
    x, samples = batch([0, -1])
    with pytest.raises(ValueError, match='unlabelled'):
        model(x, samples, mode='loss')
    with pytest.raises(ValueError, match='Unknown test_cfg'):
        tiny_model(test_cfg=dict(rerank=True))


def tiny_cc(**kwargs):
    from reidkit.models import ClusterContrast
    cfg = dict(
        backbone=dict(type='ResNet', depth=18, last_stride=1),
        neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')))
    cfg.update(kwargs)
    return ClusterContrast(**cfg)


def test_cluster_contrast_memory_from_centroids_and_loss_by_sample_idx():
    import torch.nn.functional as F

    from reidkit.models import ClusterMemory
    torch.manual_seed(0)
    model = tiny_cc()
    assert model.memory.momentum == 0.1
    assert model.memory.temperature == 0.05
    feats = torch.tensor([[1., 0.], [0., 1.], [3., 4.], [5., 5.]])
    feats = F.pad(feats, (0, 510))
    model.set_pseudo_labels([1, -1, 0, 1], feats)
    # cluster 0 = (3,4) -> (.6,.8); cluster 1 = mean((1,0),(5,5)) = (3,2.5)
    expected = F.normalize(torch.tensor([[3., 4.], [3., 2.5]]), dim=1)
    torch.testing.assert_close(model.memory.features[:, :2], expected)
    assert model.pseudo_labels.tolist() == [1, -1, 0, 1]

    x, samples = batch([9, 9, 9])  # gt labels must be ignored
    for s, idx in zip(samples, [3, 2, 0]):
        s.set_metainfo(dict(sample_idx=idx))
    model.train()
    before = model.memory.features.clone()
    with torch.no_grad():  # train-mode BN: same output for the same batch
        feat = model.extract_feat(x)[1]
    targets = torch.tensor([1, 0, 1])  # pseudo_labels[[3, 2, 0]]
    ref = ClusterMemory(feat_dim=512)
    ref.reset(before)
    expected = ref(feat, targets)
    ref.update(feat, targets)
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss_cc'}
    torch.testing.assert_close(losses['loss_cc'], expected)
    torch.testing.assert_close(model.memory.features, ref.features)
    assert not torch.equal(model.memory.features, before)
    samples[0].set_metainfo(dict(sample_idx=1))  # an outlier
    with pytest.raises(ValueError, match='outliers'):
        model(x, samples, mode='loss')


def test_cluster_contrast_needs_labels_and_resumes_them():
    model = tiny_cc()
    x, samples = batch([0, 0])
    with pytest.raises(RuntimeError, match='PseudoLabelHook'):
        model(x, samples, mode='loss')
    model.set_pseudo_labels([0, 1, 1], torch.randn(3, 512))
    fresh = tiny_cc()
    fresh.load_state_dict(model.state_dict())
    assert fresh.pseudo_labels.tolist() == [0, 1, 1]
    torch.testing.assert_close(fresh.memory.features, model.memory.features)
