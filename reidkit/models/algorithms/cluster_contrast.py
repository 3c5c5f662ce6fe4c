"""Cluster Contrast (Dai et al., ACCV 2022; arXiv 2103.11568)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F

from reidkit.clustering.features import FeatureFile
from reidkit.registry import MODELS
from reidkit.structures import ReIDDataSample
from .base import BaseReIDModel
from .pseudo_labels import PseudoLabelMixin


@MODELS.register_module()
class ClusterContrast(PseudoLabelMixin, BaseReIDModel):
    """Unsupervised re-ID with a cluster-level memory and ClusterNCE.

    Every epoch the :class:`~reidkit.engine.PseudoLabelHook` extracts the
    features of the unlabelled train set, clusters them and calls
    :meth:`set_pseudo_labels`, which stores one label per train image
    (``pseudo_labels[sample_idx]``, -1 = outlier, never sampled) and rebuilds
    the memory from the L2-normalised cluster centroids. A training step
    looks the labels of its images up by ``sample_idx``, computes the
    ClusterNCE loss of the L2-normalised BN-neck features against the memory
    and then updates the memory entries of the batch's clusters.

    The pseudo labels and the memory are buffers, so they are saved in
    checkpoints and a resumed run continues with them.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config (pooling + BN-neck).
        memory (dict): The memory config; ``feat_dim`` defaults to the
            feature dimension. ``ClusterMemory`` (the default type) gets
            the paper's settings where not given (τ = 0.05, m = 0.1,
            'mean' update); another registered memory type gets only
            ``feat_dim`` (see docs/custom_components.md for the contract).
        data_preprocessor, test_cfg, init_cfg, pair_losses,
            bn_samples: See
            :class:`BaseReIDModel` (e.g. GDS-H on the BN-neck features
            with the pseudo labels).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 memory: Optional[dict] = None,
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
        memory = dict(memory or {})
        memory.setdefault('type', 'ClusterMemory')
        if memory['type'] in ('ClusterMemory', 'reidkit.ClusterMemory'):
            # the paper's settings; another memory type gets only feat_dim
            for key, value in dict(temperature=0.05, momentum=0.1,
                                   update='mean').items():
                memory.setdefault(key, value)
        memory.setdefault('feat_dim', self.feat_dim)
        self.memory = MODELS.build(memory)
        self.init_pseudo_labels()

    def pseudo_label_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Features the pseudo labels are computed from: the L2-normalised
        BN-neck output, no flip (METHODS §1.4)."""
        return F.normalize(self.extract_feat(inputs)[1], dim=1)

    @torch.no_grad()
    def set_pseudo_labels(self, labels,
                          features: Union[torch.Tensor, FeatureFile]
                          ) -> None:
        """Take new pseudo labels and rebuild the memory.

        Args:
            labels (array-like): N labels, one per train image in
                ``sample_idx`` order; -1 marks outliers.
            features (Tensor | FeatureFile): N x D features the labels
                came from (in memory or on disk, read in chunks); the
                memory becomes their L2-normalised per-cluster means.
        """
        labels, centroids = self.cluster_centroids(
            labels, features, normalize=False)
        self.memory.reset(centroids.to(self.memory.features))
        self.pseudo_labels = labels.to(self.pseudo_labels.device)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[ReIDDataSample]) -> Dict[str, torch.Tensor]:
        targets = self.batch_pseudo_labels(data_samples, inputs.device)
        _, feat = self.extract_feat(inputs)
        loss = self.memory(feat, targets)
        self.memory.update(feat.detach(), targets)
        return self.add_pair_losses(dict(loss_cc=loss), feat, targets)
