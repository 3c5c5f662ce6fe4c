"""torchvision ResNets as re-ID backbones."""
from typing import Optional

import torch
import torch.nn as nn
import torchvision
from mmengine.model import BaseModule

from reidkit.registry import MODELS
from ..utils import check_pretrained_file


def set_last_stride(layer4: nn.Sequential, stride: int) -> None:
    """Set the stride of the first block of ``layer4`` (and its shortcut)."""
    block = layer4[0]
    conv = block.conv2 if hasattr(block, 'conv3') else block.conv1
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


@MODELS.register_module()
class ResNet(BaseModule):
    """torchvision ResNet-18/34/50/101/152 trunk, without pooling and fc.

    Parameter names match torchvision's, so ImageNet weights load from a
    local file with ``init_cfg=dict(type='Pretrained',
    checkpoint='path/resnet50-0676ba61.pth')`` (the ``fc.*`` keys are
    reported as unexpected and ignored).

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        last_stride (int): Stride of ``layer4``; 1 (the re-ID default) gives
            a 16x8 map for a 256x128 input. Defaults to 1.
        stem_relu (bool): Keep the ReLU after ``bn1``. MMT's ResNet-50
            omits it (``False``). Defaults to True.
        init_cfg (dict, optional): Defaults to None (torchvision's random
            initialisation).
    """

    ARCHS = {
        18: torchvision.models.resnet18,
        34: torchvision.models.resnet34,
        50: torchvision.models.resnet50,
        101: torchvision.models.resnet101,
        152: torchvision.models.resnet152,
    }

    def __init__(self,
                 depth: int = 50,
                 last_stride: int = 1,
                 stem_relu: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in self.ARCHS:
            raise ValueError(f'ResNet depth must be one of '
                             f'{sorted(self.ARCHS)}, got {depth}.')
        if last_stride not in (1, 2):
            raise ValueError(f'last_stride must be 1 or 2, got {last_stride}.')
        check_pretrained_file(init_cfg, f'ResNet-{depth}')
        net = self.ARCHS[depth](weights=None)
        self.conv1, self.bn1, self.maxpool = net.conv1, net.bn1, net.maxpool
        self.relu = nn.ReLU(inplace=True) if stem_relu else nn.Identity()
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.layer3, self.layer4 = net.layer3, net.layer4
        set_last_stride(self.layer4, last_stride)
        self.out_channels = net.fc.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x
