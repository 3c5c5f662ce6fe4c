"""Camera-aware P x K identity sampler with a fixed epoch length."""
import logging
import math
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from torch.utils.data import Sampler

from reidkit.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class IdentitySampler(Sampler):
    """P identities x K instances per batch, preferring other cameras.

    Each batch of ``batch_size`` indices holds ``P = batch_size / K``
    identities with ``K = num_instances`` images each. For every identity an
    anchor image is drawn at random, then K-1 more images: from the
    identity's images in *other* cameras than the anchor's when there are any
    (without replacement if there are at least K-1 of them, with replacement
    otherwise), else from its other images (the camera preference of the
    reference ``RandomMultipleGallerySampler``). An identity with a single
    image repeats it. Unlike the reference, every identity always yields
    exactly K indices, so batches are exactly P x K aligned.

    The epoch length is fixed: ``iters_per_epoch * batch_size`` indices per
    rank whatever the number of identities, so mmengine's iteration counts
    and schedulers stay valid when labels change. Identities are reshuffled
    as often as needed to fill the epoch.

    Labels can be replaced at any time with :meth:`set_labels` (e.g. pseudo
    labels after clustering); the next epoch uses them. Label -1 (outlier
    or unlabelled) is never sampled.

    Under distributed training every rank draws the same identity order
    (seed + epoch) and takes a disjoint shard of it (``perm[rank::world]``),
    so the ranks never share an identity within one pass.

    Args:
        dataset: A reidkit dataset; its ``gt_label`` and ``camid`` are read.
        batch_size (int): Per-rank batch size; must equal the dataloader's
            ``batch_size`` and be a multiple of ``num_instances``. Configs
            leave it out: :func:`reidkit.apis.prepare_config` copies the
            dataloader's value.
        num_instances (int): K, images per identity. Defaults to 4.
        iters_per_epoch (int, optional): Batches per epoch. Defaults to
            None: enough for one pass over the initial identities.
        camera_aware (bool): Prefer other cameras for the K-1 companions.
            Defaults to True.
        label_key (str): Data-info key of the initial labels. Defaults to
            'gt_label'. Unsupervised methods call :meth:`set_labels`.
        seed (int, optional): Defaults to a seed shared by all ranks.
    """

    def __init__(self,
                 dataset,
                 batch_size: Optional[int] = None,
                 num_instances: int = 4,
                 iters_per_epoch: Optional[int] = None,
                 camera_aware: bool = True,
                 label_key: str = 'gt_label',
                 seed: Optional[int] = None) -> None:
        if batch_size is None:
            raise ValueError(
                'IdentitySampler needs batch_size, the per-rank batch size of '
                "its dataloader; reidkit's tools fill it in from "
                'train_dataloader.batch_size (reidkit.apis.prepare_config). '
                'Call prepare_config(cfg) before Runner.from_cfg(cfg).')
        if num_instances < 1 or batch_size < 1:
            raise ValueError('batch_size and num_instances must be >= 1, got '
                             f'{batch_size} and {num_instances}.')
        if batch_size % num_instances != 0:
            raise ValueError(
                f'batch_size ({batch_size}) must be a multiple of '
                f'num_instances ({num_instances}) for P x K batches.')
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_ids_per_batch = batch_size // num_instances
        self.camera_aware = camera_aware
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self.epoch = 0
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        self.camids = np.asarray([d['camid'] for d in infos], dtype=np.int64)
        self.set_labels([d[label_key] for d in infos])
        if iters_per_epoch is None:
            per_pass = math.ceil(
                len(self._id_members) /
                (self.num_ids_per_batch * self.world_size))
            iters_per_epoch = max(per_pass, 1)
        if iters_per_epoch < 1:
            raise ValueError(
                f'iters_per_epoch must be >= 1, got {iters_per_epoch}.')
        self.iters_per_epoch = iters_per_epoch

    def set_labels(self, labels: Union[Sequence[int], np.ndarray,
                                       torch.Tensor]) -> None:
        """Use new labels (one per dataset item, -1 = never sampled)."""
        if isinstance(labels, torch.Tensor):
            labels = labels.cpu().numpy()
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) != len(self.camids):
            raise ValueError(
                f'set_labels got {len(labels)} labels for a dataset of '
                f'{len(self.camids)} images; pass one label per image '
                '(-1 for outliers).')
        valid = np.flatnonzero(labels >= 0)
        if len(valid) == 0:
            raise ValueError(
                'IdentitySampler: every label is -1 (all images are '
                'outliers or unlabelled), so there is nothing to sample.')
        order = valid[np.argsort(labels[valid], kind='stable')]
        uniq, starts = np.unique(labels[order], return_index=True)
        self.labels = labels
        self._id_members = np.split(order, starts[1:])
        self._id_values = uniq
        n_per_rank = len(uniq) / self.world_size
        if n_per_rank < self.num_ids_per_batch:
            print_log(
                f'IdentitySampler: {len(uniq)} identities over '
                f'{self.world_size} rank(s) is fewer than the '
                f'{self.num_ids_per_batch} identities per batch; batches '
                'will repeat identities.',
                logger='current',
                level=logging.WARNING)

    @property
    def num_identities(self) -> int:
        return len(self._id_members)

    def _draw(self, members: np.ndarray, rng: np.random.Generator) -> list:
        """K indices of one identity: anchor + K-1 (other cameras first)."""
        k = self.num_instances
        anchor_pos = rng.integers(len(members))
        anchor = members[anchor_pos]
        if k == 1:
            return [anchor]
        others = np.delete(members, anchor_pos)
        if self.camera_aware and len(others):
            other_cam = others[self.camids[others] != self.camids[anchor]]
            if len(other_cam):
                others = other_cam
        if len(others) == 0:
            return [anchor] * k
        picks = rng.choice(
            others, size=k - 1, replace=len(others) < k - 1)
        return [anchor] + picks.tolist()

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n_ids = len(self._id_members)
        needed_ids = self.iters_per_epoch * self.num_ids_per_batch
        indices = []
        drawn = 0
        while drawn < needed_ids:
            perm = rng.permutation(n_ids)
            shard = perm[self.rank::self.world_size]
            if len(shard) == 0:  # fewer identities than ranks
                shard = perm[[self.rank % n_ids]]
            for ident in shard[:needed_ids - drawn]:
                indices.extend(self._draw(self._id_members[ident], rng))
            drawn += min(len(shard), needed_ids - drawn)
        return iter(int(i) for i in indices)

    def __len__(self) -> int:
        return self.iters_per_epoch * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Called by mmengine's DistSamplerSeedHook before every epoch."""
        self.epoch = epoch
