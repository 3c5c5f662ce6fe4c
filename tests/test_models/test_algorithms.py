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
