"""IBN-Net-a ResNet (Pan et al., ECCV 2018), written for reidkit."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from reidkit.registry import MODELS
from ..utils import check_pretrained_file
from .resnet import set_last_stride


class IBN(nn.Module):
    """Instance-batch normalisation: IN on the first half of the channels,
    BN on the rest (``ratio`` = IN share).

    The submodule names ``IN``/``BN`` match the released IBN-a weights.
    """

    def __init__(self, planes: int, ratio: float = 0.5) -> None:
        super().__init__()
        self.half = int(planes * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, rest = torch.split(x, [self.half, x.size(1) - self.half], 1)
        return torch.cat([self.IN(first.contiguous()), self.BN(rest)], 1)


class BottleneckIBN(nn.Module):
    """ResNet bottleneck whose first norm is IBN when ``ibn`` is True."""
    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 ibn: bool,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNetIBN(BaseModule):
    """IBN-a ResNet-50/101: IBN in every block of layer1-3, BN stem.

    Parameter names follow the released ``resnet50_ibn_a`` weights, which
    load with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Args:
        depth (int): 50 or 101. Defaults to 50.
        last_stride (int): Stride of ``layer4``. Defaults to 1.
        init_cfg (dict, optional): Defaults to None (He initialisation).
    """

    LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

    def __init__(self,
                 depth: int = 50,
                 last_stride: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in self.LAYERS:
            raise ValueError(
                f'ResNetIBN depth must be 50 or 101, got {depth}.')
        check_pretrained_file(init_cfg, f'ResNetIBN-{depth}')
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks = self.LAYERS[depth]
        self.layer1 = self._make_layer(64, blocks[0], 1, ibn=True)
        self.layer2 = self._make_layer(128, blocks[1], 2, ibn=True)
        self.layer3 = self._make_layer(256, blocks[2], 2, ibn=True)
        self.layer4 = self._make_layer(512, blocks[3], 2, ibn=False)
        set_last_stride(self.layer4, last_stride)
        self.out_channels = 2048
        self._random_init()

    def _make_layer(self, planes: int, blocks: int, stride: int,
                    ibn: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4))
        layers = [
            BottleneckIBN(self.inplanes, planes, ibn, stride, downsample)
        ]
        self.inplanes = planes * 4
        layers += [
            BottleneckIBN(self.inplanes, planes, ibn)
            for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def _random_init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x
