import torch

from reidkit.models import AvgPooling, BNNeck, GeMPooling


def test_gem_formula():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 0.0]]]])  # 1x1x2x2
    gem = GeMPooling(p=3.0, eps=1e-6)
    expected = ((1 + 8 + 27 + 1e-18) / 4) ** (1 / 3)
    assert torch.allclose(gem(x), torch.tensor([[expected]]), atol=1e-5)
    assert torch.allclose(GeMPooling(p=1.0)(x), AvgPooling()(x), atol=1e-6)
    assert gem.p.requires_grad
    assert not GeMPooling(learnable=False).p.requires_grad


def test_gem_gradient_reaches_p():
    gem = GeMPooling()
    gem(torch.rand(2, 3, 4, 2)).sum().backward()
    assert gem.p.grad is not None and torch.isfinite(gem.p.grad).all()


def test_bnneck_frozen_bias_and_outputs():
    neck = BNNeck(in_channels=4)
    assert not neck.bn.bias.requires_grad
    assert torch.equal(neck.bn.bias, torch.zeros(4))
    x = torch.randn(6, 4, 3, 2)
    pooled, feat = neck.train()(x)
    assert torch.allclose(pooled, x.mean(dim=(2, 3)))
    var, mean = torch.var_mean(pooled, dim=0, unbiased=False)
    assert torch.allclose(feat, (pooled - mean) / torch.sqrt(var + 1e-5),
                          atol=1e-5)
    pooled2, feat2 = BNNeck(in_channels=4, bn=False)(x)
    assert torch.equal(pooled2, feat2)
