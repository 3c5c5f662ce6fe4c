"""Soft (teacher-supervised) losses of Mutual Mean-Teaching (Ge et al.,
ICLR 2020), see METHODS §3.2.

In MMT each network is supervised by the temporally averaged (mean-teacher)
model of its peer. The teacher side is always detached here: no gradient
flows into the teacher logits or features.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from reidkit.registry import MODELS
from .triplet import euclidean_dist, hard_example_indices


@MODELS.register_module()
class SoftEntropyLoss(nn.Module):
    r"""Soft cross-entropy against a teacher's class distribution (MMT).

    .. math:: \mathcal L = -\frac1B\sum_i\sum_k
              \sigma(\tilde z_i)_k\,\log\sigma(z_i)_k

    with :math:`z` the student logits, :math:`\tilde z` the teacher
    (mean-net) logits and :math:`\sigma` the softmax over classes
    (METHODS §3.2, MMT's soft classification loss). The teacher logits are
    detached: the teacher gets no gradient.

    Args:
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        """
        Args:
            logits (Tensor): Student logits, (B, K).
            teacher_logits (Tensor): Teacher logits, (B, K); detached.
        """
        if logits.dim() != 2 or logits.shape != teacher_logits.shape:
            raise ValueError(
                'SoftEntropyLoss expects student and teacher logits of the '
                'same 2-D shape (B, K), got '
                f'{tuple(logits.shape)} and {tuple(teacher_logits.shape)}.')
        targets = F.softmax(teacher_logits.detach(), dim=1)
        loss = -(targets * F.log_softmax(logits, dim=1)).sum(1)
        return self.loss_weight * loss.mean()


@MODELS.register_module()
class SoftTripletLoss(nn.Module):
    r"""Soft softmax-triplet loss supervised by a teacher (MMT).

    With :math:`D` the student's and :math:`\tilde D` the teacher's pairwise
    Euclidean distances, and for each anchor i the batch-hard positive
    :math:`p_i` (farthest same-label j != i) and negative :math:`n_i`
    (closest different-label j) mined on the **student's** :math:`D`:

    .. math:: \mathcal L = -\frac1B\sum_i\sum_{j\in\{p_i, n_i\}}
              \tau_{ij}\,\log\frac{e^{D_{ij}}}
              {e^{D_{ip_i}} + e^{D_{in_i}}},
              \quad \tau_{ij} = \frac{e^{\tilde D_{ij}}}
              {e^{\tilde D_{ip_i}} + e^{\tilde D_{in_i}}}

    i.e. a binary cross-entropy between the teacher's and the student's
    softmax over the pair :math:`(d_{ap}, d_{an})`; the teacher distances are
    read at the student's hardest-pair indices (METHODS §3.2, MMT's soft
    triplet loss with margin None). The teacher features are detached: the
    teacher gets no gradient.

    Args:
        loss_weight (float): Defaults to 1.0.
        normalize_feature (bool): L2-normalise both feature sets first.
            Defaults to False.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 normalize_feature: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.normalize_feature = normalize_feature

    def forward(self, feats: torch.Tensor, teacher_feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """
        Args:
            feats (Tensor): Student features, (B, C).
            teacher_feats (Tensor): Teacher features, (B, C); detached.
            targets (Tensor): (Pseudo) labels, (B,).
        """
        if feats.dim() != 2 or feats.shape != teacher_feats.shape:
            raise ValueError(
                'SoftTripletLoss expects student and teacher features of '
                'the same 2-D shape (B, C), got '
                f'{tuple(feats.shape)} and {tuple(teacher_feats.shape)}.')
        if targets.shape != feats.shape[:1]:
            raise ValueError(
                f'SoftTripletLoss: targets of shape {tuple(targets.shape)} '
                f'do not match a batch of {feats.size(0)} features.')
        teacher_feats = teacher_feats.detach()
        if self.normalize_feature:
            feats = F.normalize(feats, dim=1)
            teacher_feats = F.normalize(teacher_feats, dim=1)
        dist = euclidean_dist(feats, feats)
        idx_ap, idx_an = hard_example_indices(dist, targets)
        idx = torch.stack([idx_ap, idx_an], dim=1)  # (B, 2)
        log_probs = F.log_softmax(dist.gather(1, idx), dim=1)
        with torch.no_grad():
            dist_ref = euclidean_dist(teacher_feats, teacher_feats)
            probs_ref = F.softmax(dist_ref.gather(1, idx), dim=1)
        loss = -(probs_ref * log_probs).sum(1)
        return self.loss_weight * loss.mean()
