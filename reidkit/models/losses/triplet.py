from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from reidkit.registry import MODELS


def euclidean_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances, (M, D) x (N, D) -> (M, N)."""
    sq = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1)[None] -
          2 * x @ y.t())
    return sq.clamp(min=1e-12).sqrt()


def _pos_neg_masks(dist: torch.Tensor, targets: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Positive (same label, not self) and negative masks, validated."""
    same = targets[:, None] == targets[None, :]
    eye = torch.eye(len(targets), dtype=torch.bool, device=dist.device)
    pos = same & ~eye
    neg = ~same
    if not bool(pos.any(1).all()) or not bool(neg.any(1).all()):
        raise ValueError(
            'Batch-hard triplet mining needs every sample to have a positive '
            'and a negative in the batch; use IdentitySampler with '
            'num_instances >= 2 and at least 2 identities per batch.')
    return pos, neg


def hard_example_mining(dist: torch.Tensor, targets: torch.Tensor
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Batch-hard mining: farthest positive and closest negative per row.

    Returns the distances ``(dist_ap, dist_an)``, each of shape (B,).
    Raises a ValueError when some anchor has no positive or no negative
    (use a P x K sampler with K >= 2 and P >= 2).
    """
    pos, neg = _pos_neg_masks(dist, targets)
    dist_ap = dist.masked_fill(~pos, float('-inf')).max(1).values
    dist_an = dist.masked_fill(~neg, float('inf')).min(1).values
    return dist_ap, dist_an


def hard_example_indices(dist: torch.Tensor, targets: torch.Tensor
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of the batch-hard pairs: ``(idx_ap, idx_an)``, each (B,).

    ``idx_ap[i]`` is the farthest j != i with the same label and
    ``idx_an[i]`` the closest j with a different label, under ``dist``
    (ties go to the lowest index). Same ValueError as
    :func:`hard_example_mining` when an anchor has no positive or negative.
    """
    with torch.no_grad():
        pos, neg = _pos_neg_masks(dist, targets)
        idx_ap = dist.masked_fill(~pos, float('-inf')).argmax(1)
        idx_an = dist.masked_fill(~neg, float('inf')).argmin(1)
    return idx_ap, idx_an


@MODELS.register_module()
class TripletLoss(nn.Module):
    r"""Batch-hard triplet loss (Hermans et al., 2017) on Euclidean distances.

    For each anchor i, with the farthest positive distance d_ap and the
    closest negative distance d_an in the batch:

    - ``margin=m`` (float): :math:`\max(0, d_{ap} - d_{an} + m)`;
    - ``margin=None``: the soft margin :math:`\log(1 + e^{d_{ap} - d_{an}})`,
      which equals MMT's "softmax-triplet" with margin 0,
      :math:`-\log\frac{e^{d_{an}}}{e^{d_{ap}} + e^{d_{an}}}`.

    The loss is averaged over anchors.

    Args:
        margin (float, optional): Defaults to 0.3.
        normalize_feature (bool): L2-normalise features first.
            Defaults to False.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 margin: Optional[float] = 0.3,
                 normalize_feature: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.normalize_feature = normalize_feature
        self.loss_weight = loss_weight

    def forward(self, feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        if self.normalize_feature:
            feats = F.normalize(feats, dim=1)
        dist_ap, dist_an = hard_example_mining(
            euclidean_dist(feats, feats), targets)
        if self.margin is None:
            loss = F.softplus(dist_ap - dist_an)
        else:
            loss = F.relu(dist_ap - dist_an + self.margin)
        return self.loss_weight * loss.mean()
