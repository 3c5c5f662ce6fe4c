"""Pooling + BN-neck (Luo et al., "Bag of Tricks", CVPRW 2019)."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from reidkit.registry import MODELS


@MODELS.register_module()
class BNNeck(BaseModule):
    """Global pooling followed by a BatchNorm1d whose bias is frozen at 0.

    ``forward`` returns ``(pooled, feat)``: the pooled pre-BN feature (used
    by triplet-style losses) and the BN-neck feature (used by classifiers,
    memories and retrieval).

    Args:
        in_channels (int): Channels of the backbone output.
        pooling (dict): Pooling layer config. Defaults to
            ``dict(type='AvgPooling')``.
        bn (bool): Add the BN layer; without it ``feat`` is ``pooled``.
            Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 pooling: dict = dict(type='AvgPooling'),
                 bn: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pool = MODELS.build(pooling)
        self.in_channels = in_channels
        if bn:
            self.bn = nn.BatchNorm1d(in_channels)
            nn.init.ones_(self.bn.weight)
            nn.init.zeros_(self.bn.bias)
            self.bn.bias.requires_grad_(False)
        else:
            self.bn = None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(x)
        if pooled.size(1) != self.in_channels:
            raise ValueError(
                f'BNNeck expects {self.in_channels} channels, the backbone '
                f'gave {pooled.size(1)}; set neck.in_channels to match.')
        feat = pooled if self.bn is None else self.bn(pooled)
        return pooled, feat
