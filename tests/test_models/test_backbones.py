import pytest
import torch
import torchvision

from reidkit.models import ResNet, ResNetIBN
from reidkit.models.backbones.resnet_ibn import IBN


@pytest.mark.parametrize('depth,channels', [(18, 512), (34, 512), (50, 2048)])
def test_resnet_last_stride(depth, channels):
    x = torch.randn(2, 3, 64, 32)
    for stride, (h, w) in [(1, (4, 2)), (2, (2, 1))]:
        net = ResNet(depth=depth, last_stride=stride).eval()
        assert net(x).shape == (2, channels, h, w)
        assert net.out_channels == channels


def test_resnet_stem_relu_option():
    assert isinstance(ResNet(depth=18, stem_relu=False).relu,
                      torch.nn.Identity)


def test_resnet_loads_torchvision_weights(tmp_path):
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / 'resnet18.pth'
    torch.save(ref.state_dict(), path)
    net = ResNet(depth=18, last_stride=2,
                 init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    net.init_weights()
    assert torch.equal(net.layer3[0].conv1.weight, ref.layer3[0].conv1.weight)
    ref.eval(), net.eval()
    x = torch.randn(1, 3, 64, 32)
    trunk = torch.nn.Sequential(*list(ref.children())[:-2])
    assert torch.allclose(net(x), trunk(x), atol=1e-6)


def test_missing_pretrained_file_is_clear():
    with pytest.raises(FileNotFoundError, match='never downloads'):
        ResNet(init_cfg=dict(type='Pretrained', checkpoint='no/such.pth'))
    with pytest.raises(FileNotFoundError, match='init_cfg=None'):
        ResNetIBN(init_cfg=dict(type='Pretrained', checkpoint='no/ibn.pth'))
    with pytest.raises(ValueError, match='depth must be one of'):
        ResNet(depth=20)


def test_ibn_layer_formula():
    torch.manual_seed(0)
    ibn = IBN(8).train()
    x = torch.randn(4, 8, 5, 3) * 3 + 1
    out = ibn(x)
    # first half: instance norm per sample and channel
    first = out[:, :4]
    assert torch.allclose(first.mean(dim=(2, 3)), torch.zeros(4, 4),
                          atol=1e-5)
    # second half: batch norm per channel over the batch
    rest = out[:, 4:]
    assert torch.allclose(rest.mean(dim=(0, 2, 3)), torch.zeros(4),
                          atol=1e-5)
    assert not torch.allclose(rest.mean(dim=(2, 3)), torch.zeros(4, 4),
                              atol=1e-2)


def test_resnet_ibn_structure_and_keys():
    net = ResNetIBN(depth=50, last_stride=1).eval()
    assert net(torch.randn(1, 3, 64, 32)).shape == (1, 2048, 4, 2)
    keys = net.state_dict().keys()
    # layer1-3 blocks use IBN (names of the released weights), layer4 BN
    assert 'layer1.0.bn1.IN.weight' in keys
    assert 'layer3.5.bn1.BN.running_mean' in keys
    assert 'layer4.0.bn1.weight' in keys and 'layer4.0.bn1.IN.weight' \
        not in keys
    assert net.layer1[0].bn1.IN.num_features == 32
    tv = torchvision.models.resnet50(weights=None).state_dict()
    # every non-IBN tensor has torchvision's name and shape
    for k, v in net.state_dict().items():
        if '.IN.' not in k and '.BN.' not in k:
            assert tv[k].shape == v.shape, k
