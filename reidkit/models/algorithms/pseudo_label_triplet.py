"""Clustering pseudo labels + batch-hard triplet: GDS's host method."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F

from reidkit.clustering.features import FeatureFile
from reidkit.registry import MODELS
from reidkit.structures import ReIDDataSample
from .base import BaseReIDModel
from .pseudo_labels import PseudoLabelMixin


@MODELS.register_module()
class PseudoLabelTriplet(PseudoLabelMixin, BaseReIDModel):
    """Batch-hard triplet loss on clustering pseudo labels.

    The baseline that GDS (Jin et al., ECCV 2020; METHODS §6.3) adds its
    loss to: every epoch the PseudoLabelHook clusters the L2-normalised
    BN-neck features of the unlabelled train set, and each P x K batch of
    pseudo identities is trained with the batch-hard triplet loss on the
    pooled features (plus any ``pair_losses``, e.g. GDS-H, on the BN-neck
    features).

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config (pooling + BN-neck).
        loss_triplet (dict): Defaults to ``TripletLoss(margin=0.3)``.
        data_preprocessor, test_cfg, init_cfg, pair_losses,
            bn_samples: See
            :class:`BaseReIDModel`.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 loss_triplet: dict = dict(type='TripletLoss', margin=0.3),
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
        self.loss_triplet = MODELS.build(loss_triplet)
        self.init_pseudo_labels()

    def pseudo_label_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The L2-normalised BN-neck features (no flip)."""
        return F.normalize(self.extract_feat(inputs)[1], dim=1)

    @torch.no_grad()
    def set_pseudo_labels(self, labels,
                          features: Union[torch.Tensor, FeatureFile]
                          ) -> None:
        """Store one pseudo label per train image (-1 = outlier)."""
        labels, _ = self.cluster_centroids(labels, features, normalize=False)
        self.pseudo_labels = labels.to(self.pseudo_labels.device)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[ReIDDataSample]) -> Dict[str, torch.Tensor]:
        targets = self.batch_pseudo_labels(data_samples, inputs.device)
        pooled, feat = self.extract_feat(inputs)
        losses = dict(loss_triplet=self.loss_triplet(pooled, targets))
        return self.add_pair_losses(losses, feat, targets)
