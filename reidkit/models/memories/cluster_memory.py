"""Cluster-level memory and the ClusterNCE loss of Cluster Contrast."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size

from reidkit.registry import MODELS

UPDATE_MODES = ('mean', 'hard')


@MODELS.register_module()
class ClusterMemory(nn.Module):
    r"""A C x D memory of L2-normalised cluster representations.

    ``forward(feats, targets)`` returns the ClusterNCE loss (METHODS §2.2):

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_b \log
        \frac{\exp(\hat q_b^\top \phi_{y_b} / \tau)}
             {\sum_{c=1}^{C} \exp(\hat q_b^\top \phi_c / \tau)},
        \qquad \hat q_b = q_b / \lVert q_b \rVert.

    The memory is a buffer: it gets no gradient. It is changed only by
    :meth:`reset` (cluster centroids, after every re-clustering) and by the
    explicit, gradient-free :meth:`update`, which the algorithm calls after
    computing the loss (the gradient uses the memory as it was in the
    forward pass, as in the reference, which updates in ``backward``).

    ``momentum`` is the weight kept on the **old** entry:
    :math:`\phi \leftarrow m\,\phi + (1-m)\,\hat q`, then renormalised.
    With the papers' m = 0.1 an entry is mostly replaced at every update.

    Update modes (METHODS §2.3):

    - ``'mean'`` (the paper's default, ``CM``): one update per sample,
      sequentially in batch order, renormalising after each. It is a
      recency-weighted average, not a batch mean.
    - ``'hard'`` (``CM_Hard``): one update per cluster present in the batch,
      with its least similar ("hardest") positive sample.

    Under distributed training :meth:`update` first gathers the batch of
    every rank (in rank order), so all ranks apply the same updates and
    their memories stay identical.

    Args:
        feat_dim (int): D, the feature dimension.
        num_clusters (int): Initial C; :meth:`reset` changes it. Defaults
            to 0.
        temperature (float): τ. Defaults to 0.05.
        momentum (float): m in [0, 1), weight on the old entry. Defaults
            to 0.1.
        update (str): 'mean' or 'hard'. Defaults to 'mean'.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 feat_dim: int,
                 num_clusters: int = 0,
                 temperature: float = 0.05,
                 momentum: float = 0.1,
                 update: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if update not in UPDATE_MODES:
            raise ValueError(
                f"ClusterMemory update must be one of {UPDATE_MODES}, got "
                f"{update!r} ('mean' is Cluster Contrast's default).")
        if not 0 <= momentum < 1:
            raise ValueError(
                f'ClusterMemory momentum is the weight kept on the old '
                f'entry and must be in [0, 1), got {momentum}.')
        if temperature <= 0:
            raise ValueError(
                f'temperature must be > 0, got {temperature}.')
        self.feat_dim = feat_dim
        self.temperature = temperature
        self.momentum = momentum
        self.update_mode = update
        self.loss_weight = loss_weight
        self.register_buffer('features', torch.zeros(num_clusters, feat_dim))

    @property
    def num_clusters(self) -> int:
        return self.features.size(0)

    @torch.no_grad()
    def reset(self, centroids: torch.Tensor) -> None:
        """Replace the memory with L2-normalised ``centroids`` (C x D)."""
        if centroids.dim() != 2 or centroids.size(1) != self.feat_dim:
            raise ValueError(
                f'centroids must be C x {self.feat_dim}, got '
                f'{tuple(centroids.shape)}.')
        self.features = F.normalize(
            centroids.detach().float(), dim=1).to(self.features.device)

    def _check_targets(self, targets: torch.Tensor) -> None:
        if self.num_clusters == 0:
            raise RuntimeError(
                'ClusterMemory is empty: call reset(centroids) first (the '
                'PseudoLabelHook does it after every clustering).')
        if targets.numel() and (int(targets.min()) < 0 or
                                int(targets.max()) >= self.num_clusters):
            raise ValueError(
                f'ClusterMemory targets must be in [0, {self.num_clusters}) '
                f'(outliers, label -1, must not be trained on); got range '
                f'[{int(targets.min())}, {int(targets.max())}].')

    def forward(self, feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """ClusterNCE loss of ``feats`` (B x D) with labels ``targets``."""
        self._check_targets(targets)
        q = F.normalize(feats, dim=1)
        # Clone: update() may change the buffer in place before backward.
        logits = q @ self.features.clone().t() / self.temperature
        return self.loss_weight * F.cross_entropy(logits, targets)

    @torch.no_grad()
    def update(self, feats: torch.Tensor, targets: torch.Tensor) -> None:
        """Momentum update of the entries of the batch's clusters."""
        self._check_targets(targets)
        q = F.normalize(feats.detach().float(), dim=1)
        if get_world_size() > 1:
            q = torch.cat(all_gather(q.contiguous()))
            targets = torch.cat(all_gather(targets.contiguous()))
        mem, m = self.features, self.momentum
        if self.update_mode == 'mean':
            # Sequential in batch order per cluster; clusters are
            # independent, so step r updates every cluster's r-th sample
            # at once (K steps instead of B).
            order = torch.sort(targets, stable=True).indices
            sorted_t = targets[order]
            first = torch.searchsorted(sorted_t, sorted_t)
            occurrence = torch.empty_like(targets)
            occurrence[order] = torch.arange(
                len(targets), device=targets.device) - first
            for r in range(int(occurrence.max()) + 1 if len(q) else 0):
                sel = occurrence == r
                ys = targets[sel]
                mem[ys] = F.normalize(
                    m * mem[ys] + (1 - m) * q[sel], dim=1, eps=1e-12)
        else:
            for y in targets.unique().tolist():
                members = q[targets == y]
                hardest = members[(members @ mem[y]).argmin()]
                entry = m * mem[y] + (1 - m) * hardest
                mem[y] = entry / entry.norm().clamp_min(1e-12)

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        # The number of clusters changes every epoch: take the saved shape.
        key = prefix + 'features'
        if key in state_dict:
            self.features = torch.empty_like(
                state_dict[key], device=self.features.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f'feat_dim={self.feat_dim}, num_clusters='
                f'{self.num_clusters}, temperature={self.temperature}, '
                f'momentum={self.momentum}, update={self.update_mode!r}')
