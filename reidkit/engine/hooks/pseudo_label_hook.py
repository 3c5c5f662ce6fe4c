"""Per-epoch re-clustering of the unlabelled train set."""
import copy
import logging
import numbers
import os
import os.path as osp
import time
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import (all_gather, all_reduce, barrier,
                           broadcast_object_list, get_dist_info,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from reidkit.clustering.features import FeatureFile, FeatureFileWriter
from reidkit.evaluation.functional import (cluster_statistics,
                                           pseudo_label_quality)
from reidkit.registry import CLUSTERERS, HOOKS


def relabel_contiguous(labels: np.ndarray) -> np.ndarray:
    """Map the non-negative labels to 0..C-1 (in order of value); keep -1."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    out = np.full_like(labels, -1)
    valid = labels >= 0
    out[valid] = np.unique(labels[valid], return_inverse=True)[1]
    return out


def camera_standardize(features: np.ndarray,
                       camids: np.ndarray) -> np.ndarray:
    """Standardise features per camera, then L2-normalise the rows.

    For every camera, subtract the mean of its images' features and divide
    each dimension by its standard deviation over those images (1e-6 is
    added); a camera with a single image keeps a zero vector before the
    normalisation.
    """
    features = np.asarray(features, dtype=np.float32)
    out = np.empty_like(features)
    for cam in np.unique(camids):
        rows = camids == cam
        group = features[rows]
        out[rows] = (group - group.mean(0)) / (group.std(0) + 1e-6)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def camera_standardize_file(features: FeatureFile,
                            camids: np.ndarray,
                            path: str,
                            chunk_rows: Optional[int] = None) -> FeatureFile:
    """:func:`camera_standardize` of features on disk, in chunks.

    Two passes over ``features``: the per-camera sums and sums of squares
    (float64, of the rows minus the camera's first row, which keeps the
    variance exact for constant dimensions and single-image cameras), then
    the standardised, L2-normalised rows are written to ``path``. Memory
    stays ``O(chunk_rows * D + cameras * D)``. The result equals
    :func:`camera_standardize` up to float32 rounding (about 1e-7;
    that function computes the statistics in float32), except in a
    dimension that is constant over a camera's images, where this one
    gives exactly 0 and the float32 statistics may give rounding noise
    divided by 1e-6.

    Args:
        features (FeatureFile): ``(N, D)`` features.
        camids (np.ndarray): ``(N,)`` camera ids.
        path (str): The ``.npy`` file to write (created or overwritten);
            must differ from ``features.path``.
        chunk_rows (int, optional): Rows per chunk. Defaults to None:
            about 64 MB of float64 rows.

    Returns:
        FeatureFile: The standardised features, ``(N, D)`` float32.

    Raises:
        ValueError: If ``camids`` does not have one id per row, or
            ``path`` is the input file.
    """
    n, dim = features.shape
    camids = np.asarray(camids).reshape(-1)
    if len(camids) != n:
        raise ValueError(f'camera_standardize_file needs one camera id per '
                         f'row: {len(camids)} ids for {n} rows.')
    if osp.abspath(path) == osp.abspath(features.path):
        raise ValueError('camera_standardize_file cannot overwrite its '
                         f'input {features.path}.')
    if chunk_rows is None:
        chunk_rows = max(1, (64 << 20) // (8 * dim))
    _, first, inverse, counts = np.unique(
        camids, return_index=True, return_inverse=True, return_counts=True)
    inverse = torch.from_numpy(inverse.reshape(-1).astype(np.int64))
    shift = torch.from_numpy(features.take(first)).double()
    sums = torch.zeros(len(first), dim, dtype=torch.float64)
    squares = torch.zeros_like(sums)
    for start, block in features.chunks(chunk_rows):
        cam = inverse[start:start + len(block)]
        x = torch.from_numpy(block).double() - shift[cam]
        sums.index_add_(0, cam, x)
        squares.index_add_(0, cam, x.square_())
    counts = torch.from_numpy(counts).double()[:, None]
    mean = sums / counts  # of the shifted rows
    std = (squares / counts - mean.square()).clamp_(min=0).sqrt_()
    std += 1e-6
    writer = FeatureFileWriter(path, (n, dim))
    try:
        for start, block in features.chunks(chunk_rows):
            cam = inverse[start:start + len(block)]
            x = torch.from_numpy(block).double() - shift[cam]
            x = (x - mean[cam]) / std[cam]
            x /= torch.linalg.vector_norm(
                x, dim=1, keepdim=True).clamp_(min=1e-12)
            writer.write(np.arange(start, start + len(block)),
                         x.float().numpy())
    finally:
        out = writer.close()
    return out


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Cluster the unlabelled train set into pseudo identities.

    Every ``interval`` epochs, before the epoch:

    1. **extract**: the features of the whole train set, in eval mode
       without gradients, from the model method ``feature_method`` (e.g. the
       average of MMT's mean teachers), with a progress bar; each rank
       extracts its shard and the features are gathered on every rank, in
       ``sample_idx`` order; or, out of core (``out_of_core``), every
       rank writes its batches into one shared ``.npy`` file and the later
       stages read it in chunks;
    2. **cluster** on rank 0 with ``clusterer`` (a CLUSTERERS config; its
       ``fit_predict(features)`` returns -1 for outliers) and broadcast the
       labels;
    3. **hand over** the labels to the algorithm's
       ``set_pseudo_labels(labels, features)`` (Cluster Contrast rebuilds
       its memory from the centroids) and to the train sampler's
       ``set_labels`` (outliers are never sampled);
    4. **log** the number of clusters and outliers, cluster sizes, the time
       of every stage and, when the train set has ground-truth identities
       (every benchmark and the synthetic set do), the pseudo-label quality
       (NMI, ARI, pairwise precision/recall/F1), to the logger and to the
       visualizer backends (``pseudo_label/*`` scalars, step = epoch).

    A degenerate clustering, with fewer than two clusters (**every** image
    an outlier, or one cluster holding every clustered image), teaches
    nothing. The hook then warns and trains this epoch on the previous
    pseudo labels (the memory is rebuilt from the new features with them)
    or, at the first clustering, on singletons: every image its own pseudo
    identity (instance discrimination; the P x K sampler repeats each image
    K times with different augmentations). The logged statistics say which
    (``kept_previous`` or ``singletons``). Clusterings with at least two
    clusters are used as they are, however unbalanced. The hook also
    warns when more than ``warn_outlier_ratio`` of the images are
    outliers or one cluster holds more than
    ``warn_largest_ratio`` of the clustered images (usually a sign of a bad
    ``eps``: see ``reidkit.clustering.suggest_eps``).

    The labels live in the model (a buffer) and so in every checkpoint: a
    resumed run continues with them, and the hook re-clusters on its
    normal schedule.

    Args:
        clusterer (dict): CLUSTERERS config, e.g. ``dict(type='DBSCAN',
            eps=0.6)``.
        dataloader (dict, optional): Dataloader config over the *train*
            images with the test pipeline (no augmentation). Its sampler
            defaults to an unshuffled ``DefaultSampler``. It must list the
            same images in the same order as the train dataloader's
            dataset. Defaults to None: the train dataloader's dataset
            config with the test dataloader's pipeline, batch size and
            workers.
        interval (int): Re-cluster every this many epochs. Defaults to 1.
        feature_method (str): The model method that maps a preprocessed
            batch to features. Defaults to 'pseudo_label_features'.
        warn_outlier_ratio (float): Defaults to 0.5.
        warn_largest_ratio (float): Defaults to 0.5.
        progress (bool): Show a progress bar while extracting. Defaults to
            True.
        camera_normalize (bool): Cluster per-camera standardised features:
            subtract each camera's mean feature and divide by its
            per-dimension standard deviation, then L2-normalise (the
            camera-based normalisation of Zhuang et al., ECCV 2020, used
            here for clustering only; the memory is still built from the
            model's own features). Not part of Cluster Contrast, so off by
            default and in every paper config; it helps when a strong
            camera bias dominates the features, as for a randomly
            initialised network on the synthetic set. Needs camera ids.
            Defaults to False.
        out_of_core (bool | str): Where the extracted features go. False:
            in memory, gathered on every rank (``N * D * 4`` bytes per
            rank). True: a ``.npy`` file (see ``feature_dir``) that every
            rank writes its batches into as they are extracted; the
            clusterer, the camera normalisation and the algorithm's
            centroids then read it in chunks, so no process holds all
            features. 'auto': the file when the features take more than
            ``out_of_core_mb``. Defaults to 'auto'.
        out_of_core_mb (float): The 'auto' threshold in MiB (2**20 bytes).
            Defaults to 4096.
        feature_dir (str, optional): The directory of the feature file,
            ``train_features.npy`` (and, with ``camera_normalize``,
            ``train_features_camnorm.npy``, written by rank 0). The files
            are a cache, rewritten at every clustering and kept after
            training. In a distributed run all ranks write into the same
            file, so the directory must be on a file system shared by
            all ranks (the hook checks this and raises if not). Defaults
            to None: ``{work_dir}/pseudo_label_features``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 clusterer: Union[dict, object],
                 dataloader: Optional[dict] = None,
                 interval: int = 1,
                 feature_method: str = 'pseudo_label_features',
                 warn_outlier_ratio: float = 0.5,
                 warn_largest_ratio: float = 0.5,
                 progress: bool = True,
                 camera_normalize: bool = False,
                 out_of_core: Union[bool, str] = 'auto',
                 out_of_core_mb: float = 4096,
                 feature_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        if not (isinstance(out_of_core, bool) or out_of_core == 'auto'):
            raise ValueError("out_of_core must be True, False or 'auto', "
                             f'got {out_of_core!r}.')
        if (not isinstance(out_of_core_mb, numbers.Real)
                or isinstance(out_of_core_mb, bool)
                or not out_of_core_mb > 0):
            raise ValueError('out_of_core_mb must be a positive number of '
                             f'MiB, got {out_of_core_mb!r}.')
        if feature_dir is not None and not isinstance(
                feature_dir, (str, os.PathLike)):
            raise ValueError('feature_dir must be a directory path or None, '
                             f'got {feature_dir!r}.')
        self.clusterer = (
            CLUSTERERS.build(clusterer)
            if isinstance(clusterer, dict) else clusterer)
        if not callable(getattr(self.clusterer, 'fit_predict', None)):
            raise TypeError(
                f'{type(self.clusterer).__name__} has no fit_predict('
                'features) method; a clusterer must return one label per '
                'row (-1 = outlier).')
        self.dataloader_cfg = None if dataloader is None else dict(dataloader)
        self.interval = interval
        self.feature_method = feature_method
        self.warn_outlier_ratio = warn_outlier_ratio
        self.warn_largest_ratio = warn_largest_ratio
        self.progress = progress
        self.camera_normalize = camera_normalize
        self.out_of_core = out_of_core
        self.out_of_core_mb = float(out_of_core_mb)
        self.feature_dir = (None if feature_dir is None else
                            os.fspath(feature_dir))
        self._announced_file = False
        self.camids: Optional[np.ndarray] = None
        self.loader = None
        self.gt_pids: Optional[np.ndarray] = None
        self._sampler_synced = False
        #: The statistics of the last clustering (also logged).
        self.last_stats: Dict[str, float] = {}

    # ------------------------------------------------------------------
    @staticmethod
    def _model(runner: Runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _sampler(runner: Runner):
        sampler = runner.train_dataloader.sampler
        if not callable(getattr(sampler, 'set_labels', None)):
            raise TypeError(
                f'The train sampler {type(sampler).__name__} cannot take '
                'pseudo labels (no set_labels); use IdentitySampler.')
        return sampler

    def before_train(self, runner: Runner) -> None:
        model = self._model(runner)
        for name in (self.feature_method, 'set_pseudo_labels'):
            if not callable(getattr(model, name, None)):
                raise TypeError(
                    f'PseudoLabelHook needs model.{name}(); '
                    f'{type(model).__name__} has none. Use an unsupervised '
                    'algorithm such as ClusterContrast.')
        self._sampler(runner)
        loader_cfg = copy.deepcopy(self.dataloader_cfg)
        if loader_cfg is None:
            loader_cfg = self.default_dataloader_cfg(runner.cfg)
        loader_cfg.setdefault('sampler',
                              dict(type='DefaultSampler', shuffle=False))
        self.loader = runner.build_dataloader(loader_cfg, seed=runner.seed)
        dataset = self.loader.dataset
        train_set = runner.train_dataloader.dataset
        paths = [dataset.get_data_info(i)['img_path']
                 for i in range(len(dataset))]
        train_paths = [train_set.get_data_info(i)['img_path']
                       for i in range(len(train_set))]
        if paths != train_paths:
            raise ValueError(
                'PseudoLabelHook: the extraction dataloader must list the '
                f'train images in the same order ({len(paths)} vs '
                f'{len(train_paths)} images, or a different order). Give '
                'it the train dataset config with the test pipeline.')
        pids = np.asarray(
            [dataset.get_data_info(i).get('gt_pid', -1)
             for i in range(len(dataset))],
            dtype=np.int64)
        self.gt_pids = pids if len(pids) and pids.min() >= 0 else None
        self.camids = np.asarray(
            [dataset.get_data_info(i).get('camid', -1)
             for i in range(len(dataset))],
            dtype=np.int64)
        if self.camera_normalize and (len(self.camids) == 0
                                      or self.camids.min() < 0):
            raise ValueError(
                'PseudoLabelHook(camera_normalize=True) needs the camera of '
                'every train image, but some have camid -1 (unknown). Give '
                'the dataset a camera pattern or turn camera_normalize '
                'off.')
        if self.gt_pids is None:
            print_log(
                'PseudoLabelHook: the train set has no ground-truth '
                'identities, so pseudo-label quality (NMI/ARI) is not '
                'measured.',
                logger='current')

    @staticmethod
    def default_dataloader_cfg(cfg) -> dict:
        """The train dataset with the test dataloader's pipeline, batch
        size and workers."""
        for key in ('train_dataloader', 'test_dataloader'):
            if not cfg.get(key):
                raise ValueError(
                    'PseudoLabelHook without a dataloader config builds one '
                    f'from the config\'s train_dataloader (dataset) and '
                    f'test_dataloader (pipeline), but {key} is missing; '
                    'pass dataloader=dict(...) to the hook.')
        test = cfg.test_dataloader
        dataset = copy.deepcopy(cfg.train_dataloader['dataset'])
        dataset['pipeline'] = copy.deepcopy(test['dataset']['pipeline'])
        return dict(
            batch_size=test.get('batch_size', 64),
            num_workers=test.get('num_workers', 0),
            dataset=dataset)

    def before_train_epoch(self, runner: Runner) -> None:
        if runner.epoch % self.interval == 0:
            self.recluster(runner)
        elif not self._sampler_synced:
            # Resumed between two clusterings: labels come from the
            # checkpoint (the model's buffer).
            labels = self._model(runner).pseudo_labels.cpu().numpy()
            if len(labels) == 0:
                self.recluster(runner)
            else:
                self._sampler(runner).set_labels(labels)
                self._sampler_synced = True
                print_log(
                    'PseudoLabelHook: continuing with the '
                    f'{int(labels.max()) + 1} pseudo identities saved in '
                    'the checkpoint.',
                    logger='current')

    # ------------------------------------------------------------------
    def uses_file(self, num: int, dim: int) -> bool:
        """Whether ``num`` x ``dim`` features go to a file (the same
        answer on every rank)."""
        if self.out_of_core == 'auto':
            return num * dim * 4 > self.out_of_core_mb * 2**20
        return bool(self.out_of_core)

    def feature_path(self, runner: Runner) -> str:
        """The feature file, ``{feature_dir}/train_features.npy``."""
        root = self.feature_dir
        if root is None:
            root = osp.join(runner.work_dir, 'pseudo_label_features')
        return osp.join(root, 'train_features.npy')

    @torch.no_grad()
    def extract(self, runner: Runner) -> Union[torch.Tensor, FeatureFile]:
        """Features of every train image, N x D, in ``sample_idx`` order.

        Returns:
            Tensor | FeatureFile: In memory, a CPU tensor on every rank;
            out of core (see ``out_of_core``), the file every rank wrote
            its batches into.
        """
        model = self._model(runner)
        was_training = model.training
        model.eval()
        extract_fn = getattr(model, self.feature_method)
        n = len(self.loader.dataset)
        feats, idxs = [], []
        writer = seen = probe = None
        decided = False
        bar = (ProgressBar(len(self.loader))
               if self.progress and is_main_process() else None)
        for data in self.loader:
            data = model.data_preprocessor(data, False)
            batch = extract_fn(data['inputs'])
            idx = torch.tensor([s.sample_idx for s in data['data_samples']],
                               device=batch.device)
            if not decided:
                # D is known now; every rank has the same N and D, so all
                # take the same branch (and meet at the same collectives).
                decided = True
                if self.uses_file(n, batch.size(1)):
                    writer = self._open_writer(runner, (n, batch.size(1)),
                                               batch.device)
                    seen = torch.zeros(n, dtype=torch.int32,
                                       device=batch.device)
                    probe = (idx[:1].clone(), batch[:1].float().clone())
            if writer is not None:
                writer.write(idx.cpu().numpy(), batch.float().cpu().numpy())
                seen[idx] = 1  # padded duplicates write equal rows
            else:
                feats.append(batch)
                idxs.append(idx)
            if bar is not None:
                bar.update()
        if bar is not None:
            print_log('', logger='current')
        model.train(was_training)
        if writer is not None:
            return self._close_writer(writer, seen, probe)
        feats, idxs = torch.cat(feats), torch.cat(idxs)
        _, world_size = get_dist_info()
        if world_size > 1:
            feats = torch.cat(all_gather(feats.contiguous()))
            idxs = torch.cat(all_gather(idxs.contiguous()))
        out = feats.new_zeros(n, feats.size(1))
        seen = torch.zeros(n, dtype=torch.bool, device=feats.device)
        out[idxs] = feats  # padded duplicates overwrite with equal rows
        seen[idxs] = True
        self._check_seen(seen)
        return out.float().cpu()

    @staticmethod
    def _check_seen(seen: torch.Tensor) -> None:
        if not bool(seen.all()):
            raise RuntimeError(
                f'PseudoLabelHook extracted {int(seen.sum())} of '
                f'{len(seen)} train images; the extraction dataloader must '
                'visit every image (do not use drop_last).')

    def _open_writer(self, runner: Runner, shape: Tuple[int, int],
                     device: torch.device) -> FeatureFileWriter:
        """Rank 0 (re)creates the feature file, then every other rank
        opens it; raises on every rank if any could not."""
        path = self.feature_path(runner)
        rank, _ = get_dist_info()
        barrier()  # every rank is done with the previous clustering's file
        writer, error = None, None
        if rank == 0:
            try:
                writer = FeatureFileWriter(path, shape, create=True)
            except OSError as err:
                error = (f'PseudoLabelHook: cannot create the feature file '
                         f'{path} ({err}); set feature_dir to a writable '
                         'directory or out_of_core=False.')
            else:
                if not self._announced_file:
                    self._announced_file = True
                    print_log(
                        f'PseudoLabelHook: writing the {shape[0]} x '
                        f'{shape[1]} train features '
                        f'({shape[0] * shape[1] * 4 / 2**20:.1f} MiB) to '
                        f'{path}, a cache rewritten at every clustering '
                        f'(out_of_core={self.out_of_core!r}, '
                        f'out_of_core_mb={self.out_of_core_mb:g}).',
                        logger='current')
        barrier()  # the file exists
        if rank != 0:
            try:
                found = FeatureFile(path).shape
                if found != tuple(shape):
                    raise ValueError(f'it holds {found[0]} x {found[1]} '
                                     f'features, not {shape[0]} x '
                                     f'{shape[1]}')
                writer = FeatureFileWriter(path, shape, create=False)
            except (OSError, ValueError) as err:
                error = (
                    f'PseudoLabelHook: rank {rank} cannot open the feature '
                    f'file {path} that rank 0 created ({err}). With '
                    'out_of_core, all ranks write into one file, so '
                    'feature_dir must be on a file system shared by all '
                    'ranks; set feature_dir to such a directory or '
                    'out_of_core=False.')
        self._raise_on_any_rank(error, device, 'open the feature file')
        return writer

    def _close_writer(self, writer: FeatureFileWriter, seen: torch.Tensor,
                      probe: Tuple[torch.Tensor, torch.Tensor]
                      ) -> FeatureFile:
        """Close, wait for every rank, check that every row was written
        and that the file holds the other ranks' rows."""
        writer.close()
        barrier()
        all_reduce(seen, op='max')
        self._check_seen(seen)
        feats = FeatureFile(writer.path)
        rank, world_size = get_dist_info()
        if world_size > 1:
            # Each rank's first row, read back by every rank: on file
            # systems that are not shared they differ.
            idx = torch.cat(all_gather(probe[0])).cpu().numpy()
            rows = torch.cat(all_gather(probe[1].contiguous())).cpu()
            error = None
            if feats.take(idx).tobytes() != rows.numpy().tobytes():
                error = (
                    f'PseudoLabelHook: on rank {rank} the feature file '
                    f'{feats.path} does not hold the rows the other ranks '
                    'wrote. With out_of_core, all ranks write into one '
                    'file, so feature_dir must be on a file system shared '
                    'by all ranks; set feature_dir to such a directory or '
                    'out_of_core=False.')
            self._raise_on_any_rank(error, probe[0].device,
                                    'check the feature file')
        return feats

    @staticmethod
    def _raise_on_any_rank(error: Optional[str], device: torch.device,
                           what: str) -> None:
        """Raise on every rank if ``error`` is set on any (a collective)."""
        failed = torch.tensor([int(error is not None)], dtype=torch.int32,
                              device=device)
        all_reduce(failed, op='sum')
        if error is not None:
            raise RuntimeError(error)
        if int(failed) > 0:
            raise RuntimeError(
                f'PseudoLabelHook: {int(failed)} other rank(s) could not '
                f'{what}; see their error.')

    def recluster(self, runner: Runner) -> np.ndarray:
        """Extract, cluster, hand over and log; returns the labels."""
        times = {}
        start = time.perf_counter()
        feats = self.extract(runner)
        times['extract'] = time.perf_counter() - start

        on_disk = isinstance(feats, FeatureFile)
        labels = None
        if is_main_process():
            to_cluster = feats if on_disk else feats.numpy()
            if self.camera_normalize:
                start = time.perf_counter()
                if on_disk:
                    to_cluster = camera_standardize_file(
                        feats, self.camids,
                        osp.join(
                            osp.dirname(feats.path),
                            'train_features_camnorm.npy'))
                else:
                    to_cluster = camera_standardize(to_cluster, self.camids)
                times['camera_normalize'] = time.perf_counter() - start
            start = time.perf_counter()
            labels = relabel_contiguous(
                self.clusterer.fit_predict(to_cluster))
            elapsed = time.perf_counter() - start
            stages = dict(getattr(self.clusterer, 'last_timings', {}) or {})
            if stages:
                times.update(stages)
                rest = elapsed - sum(stages.values())
                if rest > 0.05:
                    times['cluster_other'] = rest
            else:
                times['cluster'] = elapsed
            if len(labels) != len(feats):
                raise RuntimeError(
                    f'{type(self.clusterer).__name__}.fit_predict returned '
                    f'{len(labels)} labels for {len(feats)} images.')
        obj = [labels]
        broadcast_object_list(obj)
        labels = obj[0]

        model = self._model(runner)
        stats = cluster_statistics(labels)
        if stats['num_clusters'] < 2:
            labels, stats = self._degenerate(runner, model, labels, stats)

        start = time.perf_counter()
        model.set_pseudo_labels(labels, feats)
        self._sampler(runner).set_labels(labels)
        self._sampler_synced = True
        times['memory'] = time.perf_counter() - start

        if self.gt_pids is not None:
            stats.update(pseudo_label_quality(labels, self.gt_pids))
        self._log(runner, stats, times)
        return labels

    def _degenerate(self, runner: Runner, model, labels: np.ndarray,
                    stats: dict) -> Tuple[np.ndarray, dict]:
        """The policy for a clustering with fewer than 2 clusters (every
        image an outlier, or one cluster holding every clustered image):
        nothing can be learnt from it, so this epoch trains on the previous
        pseudo labels or, at the first clustering, on singletons (every
        image its own pseudo identity: instance discrimination)."""
        if stats['num_clusters'] == 0:
            what = 'every image is an outlier'
        else:
            what = (f'all {len(labels) - stats["num_outliers"]} clustered '
                    'images are in one cluster')
        hint = ('The clusterer is too strict or too loose for these '
                'features (for DBSCAN see reidkit.clustering.suggest_eps).')
        previous = model.pseudo_labels.cpu().numpy()
        if len(previous) == len(labels) and (previous >= 0).any() and \
                int(previous.max()) >= 1:
            print_log(
                f'Epoch {runner.epoch}: {what} after clustering; keeping '
                f'the previous pseudo labels ({int(previous.max()) + 1} '
                f'clusters) for this epoch. {hint}',
                logger='current',
                level=logging.WARNING)
            labels = previous
            kept = dict(kept_previous=1)
        else:
            print_log(
                f'Epoch {runner.epoch}: {what} after clustering and there '
                'are no earlier pseudo labels; training this epoch with '
                f'every image as its own pseudo identity ({len(labels)} '
                f'singletons, instance discrimination). {hint}',
                logger='current',
                level=logging.WARNING)
            labels = np.arange(len(labels), dtype=np.int64)
            kept = dict(singletons=1)
        stats = cluster_statistics(labels)
        stats.update(kept)
        return labels, stats

    def _log(self, runner: Runner, stats: dict, times: dict) -> None:
        hist = stats.pop('size_hist')
        msg = (f'Epoch {runner.epoch} pseudo labels: '
               f'{stats["num_clusters"]} clusters, '
               f'{stats["num_outliers"]} outliers '
               f'({100 * stats["outlier_ratio"]:.1f}%), cluster size '
               f'min/median/mean/max {stats["size_min"]}/'
               f'{stats["size_median"]:g}/{stats["size_mean"]:.1f}/'
               f'{stats["size_max"]}; sizes '
               + ' '.join(f'{k}:{v}' for k, v in hist.items() if v))
        if 'nmi' in stats:
            msg += (f'; quality NMI {stats["nmi"]:.4f} ARI '
                    f'{stats["ari"]:.4f} pairwise precision '
                    f'{stats["pairwise_precision"]:.4f} recall '
                    f'{stats["pairwise_recall"]:.4f} F1 '
                    f'{stats["pairwise_f1"]:.4f}')
        msg += '; time ' + ' '.join(f'{k} {v:.2f}s' for k, v in times.items())
        print_log(msg, logger='current')
        if stats['outlier_ratio'] > self.warn_outlier_ratio:
            print_log(
                f'{100 * stats["outlier_ratio"]:.0f}% of the train images '
                'are outliers: the clusterer may be too strict (DBSCAN eps '
                'too small?).',
                logger='current',
                level=logging.WARNING)
        if stats['largest_ratio'] > self.warn_largest_ratio:
            print_log(
                f'One cluster holds {100 * stats["largest_ratio"]:.0f}% of '
                'the clustered images: the clusterer may be too loose '
                '(DBSCAN eps too large?).',
                logger='current',
                level=logging.WARNING)
        scalars = {f'pseudo_label/{k}': v for k, v in stats.items()}
        scalars.update({f'pseudo_label/time_{k}': v for k, v in times.items()})
        runner.visualizer.add_scalars(scalars, step=runner.epoch)
        self.last_stats = dict(stats, **{f'time_{k}': v
                                         for k, v in times.items()})
