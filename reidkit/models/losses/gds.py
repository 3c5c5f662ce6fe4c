"""Global Distance-distributions Separation (Jin et al., ECCV 2020)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import (all_gather, all_reduce, get_rank,
                           get_world_size)

from reidkit.registry import MODELS

_SIDES = ('pos', 'neg')


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of ``a`` and of ``b``."""
    sq = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None] -
          2 * a @ b.t())
    return sq.clamp(min=1e-12).sqrt()


def _check(feats: torch.Tensor, targets: torch.Tensor) -> None:
    if feats.dim() != 2 or targets.shape != feats.shape[:1]:
        raise ValueError(
            f'GDS needs (B, D) embeddings and (B,) labels, got '
            f'{tuple(feats.shape)} and {tuple(targets.shape)}.')


def pair_distances(feats: torch.Tensor, targets: torch.Tensor,
                   normalize: bool = True) -> Dict[str, torch.Tensor]:
    """The positive and the negative pair distances of a batch (each
    unordered pair ``i < j`` once), differentiable.

    Distances are Euclidean, between L2-normalised embeddings when
    ``normalize`` (the retrieval space; METHODS §6.4). Samples with a
    negative label (-1: a clustering outlier, unlabelled) have no known
    identity and take part in no pair.

    Returns:
        dict: ``{'pos': d_pos, 'neg': d_neg}``, 1-D tensors.
    """
    _check(feats, targets)
    if normalize:
        feats = F.normalize(feats, dim=1)
    dist = _distances(feats, feats)
    valid = targets >= 0
    upper = torch.ones_like(dist, dtype=torch.bool).triu(1)
    upper = upper & valid[:, None] & valid[None, :]
    same = targets[:, None] == targets[None, :]
    return dict(pos=dist[same & upper], neg=dist[~same & upper])


def _cross_distances(feats: torch.Tensor, targets: torch.Tensor,
                     others: torch.Tensor, other_targets: torch.Tensor
                     ) -> Dict[str, torch.Tensor]:
    """Positive and negative distances between every row of ``feats`` and
    every row of ``others`` (already normalised as wanted)."""
    dist = _distances(feats, others)
    valid = (targets >= 0)[:, None] & (other_targets >= 0)[None, :]
    same = targets[:, None] == other_targets[None, :]
    return dict(pos=dist[same & valid], neg=dist[~same & valid])


def _gather_rows(x: torch.Tensor) -> List[torch.Tensor]:
    """Every rank's ``x`` (detached); the first dimension may differ."""
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [int(n) for n in all_gather(size)]
    pad = x.new_zeros((max(sizes) - x.shape[0], *x.shape[1:]))
    gathered = all_gather(torch.cat([x.detach(), pad]).contiguous())
    return [g[:n] for g, n in zip(gathered, sizes)]


def _moment_sums(dists: Dict[str, torch.Tensor]
                 ) -> Dict[str, Tuple[torch.Tensor, ...]]:
    return {
        side: (d.new_tensor(float(d.numel())), d.sum(), d.pow(2).sum())
        for side, d in dists.items()
    }


def _global_sum(value: torch.Tensor, grad_share: torch.Tensor,
                world_size: int) -> torch.Tensor:
    """``value`` summed over ranks, differentiable through ``grad_share``.

    The result equals the all-reduced sum of ``value``; its gradient is
    ``world_size`` times that of this rank's ``grad_share``, because
    DistributedDataParallel averages (not sums) the ranks' gradients.
    """
    total = value.detach().clone()
    all_reduce(total)  # mmengine all_reduce sums by default
    return total + world_size * (grad_share - grad_share.detach())


@MODELS.register_module()
class GDSLoss(nn.Module):
    r"""GDS / GDS-H: separate the global distance distributions of positive
    and negative pairs (METHODS §6).

    From a batch's embeddings and (pseudo) labels, the distances of all
    positive pairs and of all negative pairs give the batch moments
    :math:`\mu^\pm_l, \sigma^{\pm2}_l` (population variance). The global
    moments follow them with momentum :math:`\beta`:

    .. math::
        \mu^\pm_g = \beta\,\bar\mu^\pm_g + (1-\beta)\,\mu^\pm_l,\qquad
        \sigma^{\pm2}_g = \beta\,\bar\sigma^{\pm2}_g
                          + (1-\beta)\,\sigma^{\pm2}_l

    where the previous values :math:`\bar\mu, \bar\sigma^2` are constants
    (the gradient flows through the current batch's share). They start from
    the first batch's moments. The loss is

    .. math::
        L_{GDS} = \mathrm{Softplus}(\mu^+_g - \mu^-_g)
                  + \lambda_\sigma(\sigma^{+2}_g + \sigma^{-2}_g),\\
        L_H = \mathrm{Softplus}\big((\mu^+_g + \kappa\sigma^+_g)
                                    - (\mu^-_g - \kappa\sigma^-_g)\big),\\
        L = L_{GDS} + \lambda_h L_H

    (``lambda_h=0``: GDS; ``lambda_h>0``: GDS-H).

    The new global moments are kept as *pending* values; :meth:`commit`
    (called by :class:`~reidkit.engine.GDSStatsHook` after every iteration)
    makes them the stored buffers, so they are saved in checkpoints. Under
    distributed training the statistics are those of the global batch:
    every rank pairs its samples with all ranks' (all-gathered) samples,
    and the pair counts, sums and sums of squares are summed over ranks, so
    every rank uses the same moments, equal to those of one process with
    the whole batch. The gradient reaching this rank's samples is scaled
    by the world size to undo DistributedDataParallel's averaging, so the
    update equals the single-process one.

    A batch without positive (or negative) pairs leaves that side's global
    moments unchanged (constants in the loss); while a side has never been
    seen, every term that needs it is zero.

    Args:
        momentum (float): :math:`\beta` in [0, 1). Defaults to 0.9.
        lambda_sigma (float): :math:`\lambda_\sigma`. Defaults to 0.1.
        lambda_h (float): :math:`\lambda_h`; 0 gives plain GDS. Defaults
            to 0 (GDS-H: 0.1).
        kappa (float): :math:`\kappa`. Defaults to 1.0.
        normalize (bool): L2-normalise the embeddings first. Defaults to
            True.
        loss_weight (float): Defaults to 1.0.

    The paper does not give :math:`\beta, \lambda_\sigma, \lambda_h,
    \kappa`; the defaults (and GDS-H's :math:`\lambda_h = 0.1`) are the
    best of reidkit's sweep on the synthetic set (docs/gds.md).
    """

    def __init__(self,
                 momentum: float = 0.9,
                 lambda_sigma: float = 0.1,
                 lambda_h: float = 0.0,
                 kappa: float = 1.0,
                 normalize: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f'GDS momentum (beta) must be in [0, 1), got '
                             f'{momentum}.')
        for name, value in (('lambda_sigma', lambda_sigma),
                            ('lambda_h', lambda_h), ('kappa', kappa)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {value}.')
        self.momentum = momentum
        self.lambda_sigma = lambda_sigma
        self.lambda_h = lambda_h
        self.kappa = kappa
        self.normalize = normalize
        self.loss_weight = loss_weight
        for side in _SIDES:
            self.register_buffer(f'mu_{side}', torch.tensor(0.))
            self.register_buffer(f'var_{side}', torch.tensor(0.))
            self.register_buffer(f'seen_{side}', torch.tensor(False))
        self._pending: Optional[Dict[str, torch.Tensor]] = None
        self.last_distances: Dict[str, torch.Tensor] = {}
        #: The last batch's moments and pair counts (detached tensors).
        self.last_batch: Dict[str, torch.Tensor] = {}

    def _global_sums(self, feats: torch.Tensor, targets: torch.Tensor
                     ) -> Dict[str, Tuple[torch.Tensor, ...]]:
        """Pair count, sum and sum of squares of the distances of the
        *global* batch, per side; also fills :attr:`last_distances`.

        On one process these are the batch's own pairs. Under distributed
        training every rank also pairs its samples with the other ranks'
        (all-gathered, detached) samples, so the sums are exactly those of
        one process holding the whole global batch, cross-rank pairs
        included. Each cross pair is counted once in the value and
        differentiated on both of its ranks (each through its own sample).
        """
        _check(feats, targets)
        if self.normalize:
            feats = F.normalize(feats, dim=1)
        own = pair_distances(feats, targets, normalize=False)
        world_size = get_world_size()
        logged = dict(own)
        if world_size == 1:
            sums = _moment_sums(own)
        else:
            rank = get_rank()
            all_feats = _gather_rows(feats)
            all_targets = _gather_rows(targets)
            parts = {
                r: _cross_distances(feats, targets, all_feats[r],
                                    all_targets[r])
                for r in range(world_size) if r != rank
            }
            cross = {
                side: torch.cat([p[side] for p in parts.values()])
                for side in _SIDES
            }
            # each cross pair once in the logged distances: with later ranks
            later = [p for r, p in parts.items() if r > rank]
            logged = {
                side: torch.cat([own[side]] + [p[side] for p in later])
                for side in _SIDES
            }
            own_sums, cross_sums = _moment_sums(own), _moment_sums(cross)
            sums = {
                side: tuple(
                    _global_sum(o + 0.5 * c, o + c, world_size)
                    for o, c in zip(own_sums[side], cross_sums[side]))
                for side in _SIDES
            }
        #: This rank's pair distances of the last batch (detached, CPU),
        #: for GDSStatsHook's histograms.
        self.last_distances = {
            k: v.detach().float().cpu()
            for k, v in logged.items()
        }
        return sums

    def _moments(self, side: str, stats) -> Tuple[torch.Tensor, ...]:
        """Global mean and variance of one side, and whether they exist."""
        n, s, q = stats
        old_mu = getattr(self, f'mu_{side}')
        old_var = getattr(self, f'var_{side}')
        seen = bool(getattr(self, f'seen_{side}'))
        if float(n) == 0:
            return old_mu, old_var, seen, False
        mu_l = s / n
        var_l = (q / n - mu_l.pow(2)).clamp(min=0)
        self.last_batch.update({
            f'{side}_pairs': n.detach(),
            f'mu_{side}_batch': mu_l.detach(),
            f'var_{side}_batch': var_l.detach(),
        })
        if not seen:
            return mu_l, var_l, True, True
        b = self.momentum
        return (b * old_mu + (1 - b) * mu_l, b * old_var + (1 - b) * var_l,
                True, True)

    def forward(self, feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """The GDS(-H) loss of a batch (B x D embeddings, B labels)."""
        sums = self._global_sums(feats, targets)
        self.last_batch = {}
        moments, pending = {}, {}
        for side in _SIDES:
            mu, var, exists, updated = self._moments(side, sums[side])
            moments[side] = (mu, var, exists)
            if updated:
                pending[f'mu_{side}'] = mu.detach()
                pending[f'var_{side}'] = var.detach()
                pending[f'seen_{side}'] = torch.tensor(True)
        self._pending = pending
        (mu_p, var_p, has_p), (mu_n, var_n, has_n) = (moments['pos'],
                                                      moments['neg'])
        loss = feats.new_zeros(())
        if has_p and has_n:
            loss = loss + F.softplus(mu_p - mu_n)
            if self.lambda_h > 0:
                std_p = (var_p + 1e-12).sqrt()
                std_n = (var_n + 1e-12).sqrt()
                loss = loss + self.lambda_h * F.softplus(
                    (mu_p + self.kappa * std_p) - (mu_n - self.kappa * std_n))
        if has_p:
            loss = loss + self.lambda_sigma * var_p
        if has_n:
            loss = loss + self.lambda_sigma * var_n
        return self.loss_weight * loss

    @torch.no_grad()
    def commit(self) -> bool:
        """Store the pending global moments of the last forward; returns
        whether there was anything to store."""
        if not self._pending:
            return False
        for name, value in self._pending.items():
            getattr(self, name).copy_(value)
        self._pending = None
        return True

    def global_moments(self) -> Dict[str, float]:
        """The stored global moments (after the last commit)."""
        return {
            'mu_pos': float(self.mu_pos),
            'sigma_pos': float(self.var_pos.clamp(min=0).sqrt()),
            'mu_neg': float(self.mu_neg),
            'sigma_neg': float(self.var_neg.clamp(min=0).sqrt()),
        }
