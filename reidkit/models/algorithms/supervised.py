from typing import Dict, List, Optional

import torch

from reidkit.registry import MODELS
from reidkit.structures import ReIDDataSample
from .base import BaseReIDModel


@MODELS.register_module()
class SupervisedReID(BaseReIDModel):
    """Supervised baseline: identity classification + batch-hard triplet.

    The source-domain pre-training of MMT and the upper bound of the
    unsupervised methods. Trained on the ground-truth ``gt_label`` of the
    train split.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config (pooling + BN-neck).
        head (dict): ``IdentityClsHead`` config; ``in_channels`` defaults to
            the feature dimension.
        data_preprocessor, test_cfg, init_cfg, pair_losses,
            bn_samples: See
            :class:`BaseReIDModel`.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 pair_losses: Optional[dict] = None,
                 bn_samples: Optional[int] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
            pair_losses=pair_losses,
            bn_samples=bn_samples)
        head = dict(head)
        head.setdefault('in_channels', self.feat_dim)
        self.head = MODELS.build(head)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[ReIDDataSample]) -> Dict[str, torch.Tensor]:
        labels = self.stack_field(data_samples, 'gt_label', inputs.device)
        if bool((labels < 0).any()):
            raise ValueError(
                'SupervisedReID needs identity labels, but the batch has '
                'unlabelled images (gt_label -1). Train it on a labelled '
                'train split, or use an unsupervised algorithm.')
        pooled, feat = self.extract_feat(inputs)
        return self.add_pair_losses(
            self.head.loss(pooled, feat, labels), feat, labels)
