"""Pseudo-label bookkeeping shared by the unsupervised algorithms."""
from typing import List, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from reidkit.clustering.features import FeatureFile, cluster_sums
from reidkit.structures import ReIDDataSample


class PseudoLabelMixin:
    """Keeps one pseudo label per train image in a ``pseudo_labels`` buffer.

    The buffer is in every checkpoint (its size changes with the train
    set, so loading takes the saved shape), the PseudoLabelHook fills it
    through the algorithm's ``set_pseudo_labels``, and a training step
    looks its batch up by ``sample_idx``. -1 marks outliers.
    """

    def init_pseudo_labels(self) -> None:
        self.register_buffer('pseudo_labels',
                             torch.zeros(0, dtype=torch.long))

    @staticmethod
    def cluster_centroids(labels, features: Union[torch.Tensor, FeatureFile],
                          normalize: bool
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Check the labels and compute the per-cluster mean features.

        The sums are :func:`~reidkit.clustering.features.cluster_sums`,
        which reads a :class:`~reidkit.clustering.features.FeatureFile` in
        chunks and gives bitwise the same sums for the same features in
        memory.

        Args:
            labels (array-like): N labels, contiguous 0..C-1, -1 = outlier.
            features (Tensor | FeatureFile): N x D features the labels came
                from (in memory, on any device, or on disk).
            normalize (bool): L2-normalise the means.

        Returns:
            tuple[Tensor, Tensor]: The labels (int64, CPU) and the C x D
            centroids (float32, CPU).
        """
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if labels.dim() != 1 or len(labels) != len(features):
            raise ValueError(
                f'set_pseudo_labels needs one label per feature row, got '
                f'{tuple(labels.shape)} labels for {len(features)} rows.')
        valid = labels >= 0
        if not bool(valid.any()):
            raise ValueError('set_pseudo_labels: every label is -1; there '
                             'is no cluster to learn from.')
        num_clusters = int(labels.max()) + 1
        if isinstance(features, torch.Tensor):
            features = features.detach()
        sums, counts = cluster_sums(labels.numpy(), features, num_clusters)
        if bool((counts == 0).any()):
            raise ValueError(
                'Pseudo labels must be contiguous 0..C-1; clusters '
                f'{torch.nonzero(counts == 0).flatten().tolist()[:10]} are '
                'empty.')
        centroids = sums / counts[:, None]
        if normalize:
            centroids = F.normalize(centroids, dim=1)
        return labels, centroids

    def batch_pseudo_labels(self, data_samples: List[ReIDDataSample],
                            device: torch.device) -> torch.Tensor:
        """The pseudo labels of a training batch (never -1)."""
        if len(self.pseudo_labels) == 0:
            raise RuntimeError(
                f'{type(self).__name__} has no pseudo labels yet. Train it '
                'with a PseudoLabelHook in custom_hooks, which clusters the '
                'train set before every epoch (see configs/).')
        idx = torch.tensor([s.sample_idx for s in data_samples],
                           dtype=torch.long,
                           device=self.pseudo_labels.device)
        targets = self.pseudo_labels[idx].to(device)
        if bool((targets < 0).any()):
            raise ValueError(
                'A training batch holds outliers (pseudo label -1). Use '
                'the IdentitySampler, which never samples them.')
        return targets

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        key = prefix + 'pseudo_labels'
        if key in state_dict:
            self.pseudo_labels = torch.empty_like(
                state_dict[key], device=self.pseudo_labels.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
