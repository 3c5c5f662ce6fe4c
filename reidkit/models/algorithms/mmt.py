"""Mutual Mean-Teaching (Ge, Chen and Li, ICLR 2020)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel, BaseModule
from mmengine.runner.checkpoint import _load_checkpoint

from reidkit.clustering.features import FeatureFile
from reidkit.registry import MODELS
from reidkit.structures import ReIDDataSample
from .base import (build_pair_losses, check_bn_samples,
                   forward_in_bn_groups)
from .mean_teacher import MeanTeacher
from .pseudo_labels import PseudoLabelMixin
from ..utils import FiniteLossMixin


class MMTNet(BaseModule):
    """One MMT network: backbone, pooling + BN-neck, bias-free classifier.

    ``forward`` returns ``(pooled, feat, logits)``: the pooled pre-BN
    feature (for the triplet losses), the BN-neck feature and the classifier
    logits on it (METHODS §1.1, MMT column).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 num_classes: int,
                 bn_samples: Optional[int] = None) -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone)
        neck = dict(neck)
        neck.setdefault('in_channels', self.backbone.out_channels)
        self.neck = MODELS.build(neck)
        self.classifier = nn.Linear(
            self.neck.in_channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.bn_samples = check_bn_samples(bn_samples)

    def forward(self, inputs: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled, feat = forward_in_bn_groups(
            lambda x: self.neck(self.backbone(x)), inputs, self.bn_samples,
            self.training)
        return pooled, feat, self.classifier(feat)


@MODELS.register_module()
class MMT(PseudoLabelMixin, FiniteLossMixin, BaseModel):
    r"""Mutual Mean-Teaching: two students, two mean teachers, soft labels.

    Two networks (``nets``) start from two source-pretrained checkpoints
    (stage I, different seeds); each has a mean teacher (``teachers``,
    :class:`MeanTeacher`, α = 0.999 with the warm-up of METHODS §3.2),
    updated after every iteration by :class:`~reidkit.engine.MeanTeacherHook`.
    Every epoch the :class:`~reidkit.engine.PseudoLabelHook` clusters the
    average of the two teachers' L2-normalised BN-neck features
    (:meth:`pseudo_label_features`) and calls :meth:`set_pseudo_labels`,
    which stores the labels and re-initialises the classifiers of all four
    networks from the L2-normalised cluster centroids.

    A training batch holds two independently augmented views of each image
    (``MultiView`` in the train pipeline): student 1 and teacher 1 see view
    1, student 2 and teacher 2 see view 2. The teachers run in train mode
    without gradients. With :math:`\lambda_{id}` = ``soft_ce_weight`` (0.5)
    and :math:`\lambda_{tri}` = ``soft_tri_weight`` (0.8) the loss is
    (METHODS §3.2, step 5)

    .. math::
        (1-\lambda_{id})(L_{id}^1 + L_{id}^2)
        + (1-\lambda_{tri})(L_{tri}^1 + L_{tri}^2)
        + \lambda_{id}(L_{sid}(1|2') + L_{sid}(2|1'))
        + \lambda_{tri}(L_{stri}(1|2') + L_{stri}(2|1'))

    logged as ``loss_ce``, ``loss_tri``, ``loss_soft_ce`` and
    ``loss_soft_tri``: label-smoothed cross-entropy on the pseudo labels,
    the softmax-triplet with margin 0 on the pooled features, the soft
    cross-entropy against the *other* network's teacher and the soft
    softmax-triplet with that teacher's distances read at the student's
    hardest pairs.

    The classifiers have ``num_classes`` outputs; the first C (the current
    number of clusters) are re-initialised and used (MMT's DBSCAN variant;
    with k-means C = K = ``num_classes``).

    Evaluation and deployment use the teachers: ``predict`` stores teacher
    1's BN-neck feature as ``pred_feature_t1`` and teacher 2's as
    ``pred_feature_t2`` (one ``ReIDMetric`` each), and the selected
    teacher's (``best_teacher``, set by the MeanTeacherHook after each
    validation to the one with the higher mAP) as ``pred_feature``.

    Args:
        backbone (dict): Backbone config (both networks).
        neck (dict): Neck config (pooling + BN-neck).
        num_classes (int): Classifier outputs: K for k-means, at least the
            number of target train images for DBSCAN.
        pretrained (Sequence[str], optional): The two stage-I checkpoints
            (``SupervisedReID`` or any checkpoint with ``backbone.*`` and
            ``neck.*`` keys) for network 1 and 2. Their classifiers are not
            loaded (the number of classes differs). Defaults to None
            (random initialisation, or the backbone's own ``init_cfg``).
        alpha (float): Mean-teacher α. Defaults to 0.999.
        soft_ce_weight (float): λ_id. Defaults to 0.5.
        soft_tri_weight (float): λ_tri. Defaults to 0.8.
        loss_ce (dict): Defaults to label-smoothed CE, ε = 0.1.
        loss_tri (dict): Defaults to ``TripletLoss(margin=None)`` (the
            softmax-triplet with margin 0).
        loss_soft_ce (dict): Defaults to ``SoftEntropyLoss``.
        loss_soft_tri (dict): Defaults to ``SoftTripletLoss``.
        bn_samples (int, optional): Images per BatchNorm step in training
            (see :class:`BaseReIDModel`); MMT's paper runs had 16 per GPU.
            Defaults to None: the whole per-process batch.
        pair_losses (dict, optional): Extra pair-distance losses, ``name ->
            config`` (e.g. GDS-H), one instance per student, each on its
            student's BN-neck features with the pseudo labels; logged as
            ``loss_<name>`` (sum over the two students). Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``ReIDDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 num_classes: int,
                 pretrained: Optional[Sequence[str]] = None,
                 alpha: float = 0.999,
                 soft_ce_weight: float = 0.5,
                 soft_tri_weight: float = 0.8,
                 loss_ce: dict = dict(
                     type='CrossEntropyLabelSmooth', epsilon=0.1),
                 loss_tri: dict = dict(type='TripletLoss', margin=None),
                 loss_soft_ce: dict = dict(type='SoftEntropyLoss'),
                 loss_soft_tri: dict = dict(type='SoftTripletLoss'),
                 pair_losses: Optional[dict] = None,
                 bn_samples: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReIDDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}.')
        for name, w in (('soft_ce_weight', soft_ce_weight),
                        ('soft_tri_weight', soft_tri_weight)):
            if not 0 <= w <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {w}.')
        if pretrained is not None and len(pretrained) != 2:
            raise ValueError(
                'pretrained must list two stage-I checkpoints (network 1 '
                f'and network 2), got {pretrained!r}.')
        self.num_classes = num_classes
        self.pretrained = None if pretrained is None else list(pretrained)
        self.soft_ce_weight = soft_ce_weight
        self.soft_tri_weight = soft_tri_weight
        self.nets = nn.ModuleList([
            MMTNet(backbone, neck, num_classes, bn_samples) for _ in range(2)
        ])
        self.teachers = nn.ModuleList(
            [MeanTeacher(net, alpha=alpha) for net in self.nets])
        self.loss_ce = MODELS.build(loss_ce)
        self.loss_tri = MODELS.build(loss_tri)
        self.loss_soft_ce = MODELS.build(loss_soft_ce)
        self.loss_soft_tri = MODELS.build(loss_soft_tri)
        self.pair_losses = nn.ModuleList(
            [build_pair_losses(pair_losses) for _ in range(2)])
        self.init_pseudo_labels()
        self.register_buffer('num_clusters', torch.tensor(0))
        self.register_buffer('best_teacher', torch.tensor(0))

    @property
    def feat_dim(self) -> int:
        return self.nets[0].neck.in_channels

    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise, load the stage-I checkpoints into the two networks
        and start each teacher as a copy of its student."""
        super().init_weights()
        if self.pretrained is not None:
            for i, path in enumerate(self.pretrained):
                self._load_pretrained(self.nets[i], path, i + 1)
        self.copy_students_to_teachers()

    @staticmethod
    def _load_pretrained(net: MMTNet, path: str, index: int) -> None:
        if not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(
                f'MMT network {index}: stage-I checkpoint "{path}" not found. '
                'Train the two source models first (tools/mmt_pretrain.sh, '
                'see docs/mmt.md) and point model.pretrained at their '
                'checkpoints.')
        ckpt = _load_checkpoint(osp.expanduser(path), map_location='cpu')
        state = ckpt.get('state_dict', ckpt)
        state = {
            k: v
            for k, v in state.items()
            if k.startswith('backbone.') or k.startswith('neck.')
        }
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith('classifier.')]
        if missing or unexpected:
            raise ValueError(
                f'MMT network {index}: "{path}" does not match the network '
                f'(missing {missing[:5]}, unexpected {unexpected[:5]}); '
                'is it a checkpoint of the same backbone and neck?')
        print_log(
            f'MMT network {index}: loaded backbone and neck from {path}.',
            logger='current')

    @torch.no_grad()
    def copy_students_to_teachers(self) -> None:
        """Teachers := students (parameters and buffers)."""
        for teacher, net in zip(self.teachers, self.nets):
            teacher.module.load_state_dict(net.state_dict())

    @torch.no_grad()
    def update_teachers(self) -> None:
        """One mean-teacher update of both teachers (after a step)."""
        for teacher, net in zip(self.teachers, self.nets):
            teacher.update_parameters(net)

    # ------------------------------------------------------------------
    def teacher_features(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """L2-normalised BN-neck features of both teachers."""
        return [F.normalize(t(inputs)[1], dim=1) for t in self.teachers]

    def pseudo_label_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The average of the two teachers' L2-normalised BN-neck features
        (METHODS §3.2, step 1; not re-normalised)."""
        f1, f2 = self.teacher_features(inputs)
        return (f1 + f2) / 2

    @torch.no_grad()
    def set_pseudo_labels(self, labels,
                          features: Union[torch.Tensor, FeatureFile]
                          ) -> None:
        """Store the labels and re-initialise all four classifiers.

        Rows ``0..C-1`` of every classifier become the L2-normalised mean
        of the cluster's features (for k-means, its centroid).

        Args:
            labels (array-like): One label per train image in
                ``sample_idx`` order, contiguous 0..C-1; -1 = outlier.
            features (Tensor | FeatureFile): The N x D features the
                labels came from (in memory or on disk, read in chunks).
        """
        num_clusters = int(np.max(labels)) + 1
        if num_clusters > self.num_classes:
            raise ValueError(
                f'The clustering found {num_clusters} clusters but the '
                f'classifiers have num_classes={self.num_classes} outputs; '
                'raise model.num_classes (for DBSCAN, to the number of '
                'target train images, as MMT does).')
        labels, centroids = self.cluster_centroids(
            labels, features, normalize=True)
        for module in (*self.nets, *(t.module for t in self.teachers)):
            weight = module.classifier.weight
            weight[:num_clusters] = centroids.to(weight)
        self.num_clusters.fill_(num_clusters)
        self.pseudo_labels = labels.to(self.pseudo_labels.device)

    # ------------------------------------------------------------------
    def forward(self,
                inputs,
                data_samples: Optional[List[ReIDDataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.teacher_features(inputs)[int(self.best_teacher)]
        raise RuntimeError(f'Invalid mode "{mode}"; reidkit models support '
                           "'loss', 'predict' and 'tensor'.")

    def predict(self, inputs: torch.Tensor,
                data_samples: List[ReIDDataSample]) -> List[ReIDDataSample]:
        f1, f2 = self.teacher_features(inputs)
        best = int(self.best_teacher)
        for i, sample in enumerate(data_samples):
            sample.pred_feature_t1 = f1[i]
            sample.pred_feature_t2 = f2[i]
            sample.pred_feature = (f1, f2)[best][i]
            sample.set_metainfo(dict(flip_test=False))
        return data_samples

    def loss(self, inputs, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                'MMT trains on two augmented views of every image: put '
                "dict(type='MultiView', num_views=2, transforms=[...]) in "
                'the train pipeline.')
        x1, x2 = inputs
        targets = self.batch_pseudo_labels(data_samples, x1.device)
        c = int(self.num_clusters)
        pooled1, feat1, logits1 = self.nets[0](x1)
        pooled2, feat2, logits2 = self.nets[1](x2)
        logits1, logits2 = logits1[:, :c], logits2[:, :c]
        with torch.no_grad():
            t_pooled1, _, t_logits1 = self.teachers[0](x1)
            t_pooled2, _, t_logits2 = self.teachers[1](x2)
        t_logits1, t_logits2 = t_logits1[:, :c], t_logits2[:, :c]
        w_id, w_tri = self.soft_ce_weight, self.soft_tri_weight
        losses = dict(
            loss_ce=(1 - w_id) * (self.loss_ce(logits1, targets) +
                                  self.loss_ce(logits2, targets)),
            loss_tri=(1 - w_tri) * (self.loss_tri(pooled1, targets) +
                                    self.loss_tri(pooled2, targets)),
            loss_soft_ce=w_id * (self.loss_soft_ce(logits1, t_logits2) +
                                 self.loss_soft_ce(logits2, t_logits1)),
            loss_soft_tri=w_tri * (
                self.loss_soft_tri(pooled1, t_pooled2, targets) +
                self.loss_soft_tri(pooled2, t_pooled1, targets)))
        for name in self.pair_losses[0]:
            losses[f'loss_{name}'] = (
                self.pair_losses[0][name](feat1, targets) +
                self.pair_losses[1][name](feat2, targets))
        with torch.no_grad():
            losses['accuracy'] = (logits1.argmax(1) == targets).float().mean()
        return losses
