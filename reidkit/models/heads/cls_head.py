from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from reidkit.registry import MODELS


@MODELS.register_module()
class IdentityClsHead(BaseModule):
    """Identity classifier + metric loss of the supervised baseline.

    A bias-free linear classifier on the BN-neck feature (initialised
    N(0, 0.001), as in the reference code) trained with ``loss_cls``, plus
    an optional ``loss_triplet`` on the pooled pre-BN feature.

    Args:
        in_channels (int): Feature dimension.
        num_classes (int): Number of training identities.
        loss_cls (dict): Defaults to label-smoothed cross-entropy (0.1).
        loss_triplet (dict, optional): Defaults to batch-hard triplet with
            margin 0.3. None disables it.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 loss_cls: dict = dict(
                     type='CrossEntropyLabelSmooth', epsilon=0.1),
                 loss_triplet: Optional[dict] = dict(
                     type='TripletLoss', margin=0.3),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}.')
        self.num_classes = num_classes
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_triplet = (None if loss_triplet is None else
                             MODELS.build(loss_triplet))

    def loss(self, pooled: torch.Tensor, feat: torch.Tensor,
             labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits = self.classifier(feat)
        losses = dict(loss_cls=self.loss_cls(logits, labels))
        if self.loss_triplet is not None:
            losses['loss_triplet'] = self.loss_triplet(pooled, labels)
        with torch.no_grad():
            losses['accuracy'] = (logits.argmax(1) == labels).float().mean()
        return losses
