"""Per-epoch re-clustering of the unlabelled train set."""
import copy
import logging
import time
from typing import Dict, Optional, Union

import numpy as np
import torch
from mmengine.dist import (all_gather, broadcast_object_list, get_dist_info,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

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


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Cluster the unlabelled train set into pseudo identities.

    Every ``interval`` epochs, before the epoch:

    1. **extract**: the features of the whole train set, in eval mode
       without gradients, from the model method ``feature_method`` (e.g. the
       average of MMT's mean teachers), with a progress bar; each rank
       extracts its shard and the features are gathered on every rank, in
       ``sample_idx`` order;
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

    If a clustering makes **every** image an outlier, the hook warns and
    keeps the previous labels for this epoch (the memory is rebuilt from
    the new features with those labels); it raises if there are no previous
    labels. It also warns when more than ``warn_outlier_ratio`` of the
    images are outliers or one cluster holds more than
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
                 camera_normalize: bool = False) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
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
    @torch.no_grad()
    def extract(self, runner: Runner) -> torch.Tensor:
        """Features of every train image, N x D, on every rank (CPU)."""
        model = self._model(runner)
        was_training = model.training
        model.eval()
        extract_fn = getattr(model, self.feature_method)
        feats, idxs = [], []
        bar = (ProgressBar(len(self.loader))
               if self.progress and is_main_process() else None)
        for data in self.loader:
            data = model.data_preprocessor(data, False)
            feats.append(extract_fn(data['inputs']))
            idxs.append(
                torch.tensor([s.sample_idx for s in data['data_samples']],
                             device=feats[-1].device))
            if bar is not None:
                bar.update()
        if bar is not None:
            print_log('', logger='current')
        model.train(was_training)
        feats, idxs = torch.cat(feats), torch.cat(idxs)
        _, world_size = get_dist_info()
        if world_size > 1:
            feats = torch.cat(all_gather(feats.contiguous()))
            idxs = torch.cat(all_gather(idxs.contiguous()))
        n = len(self.loader.dataset)
        out = feats.new_zeros(n, feats.size(1))
        seen = torch.zeros(n, dtype=torch.bool, device=feats.device)
        out[idxs] = feats  # padded duplicates overwrite with equal rows
        seen[idxs] = True
        if not bool(seen.all()):
            raise RuntimeError(
                f'PseudoLabelHook extracted {int(seen.sum())} of {n} '
                'train images; the extraction dataloader must visit every '
                'image (do not use drop_last).')
        return out.float().cpu()

    def recluster(self, runner: Runner) -> np.ndarray:
        """Extract, cluster, hand over and log; returns the labels."""
        times = {}
        start = time.perf_counter()
        feats = self.extract(runner)
        times['extract'] = time.perf_counter() - start

        labels = None
        if is_main_process():
            start = time.perf_counter()
            to_cluster = feats.numpy()
            if self.camera_normalize:
                to_cluster = camera_standardize(to_cluster, self.camids)
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
        if stats['num_clusters'] == 0:
            previous = model.pseudo_labels.cpu().numpy()
            if len(previous) == 0:
                raise RuntimeError(
                    f'Epoch {runner.epoch}: the clusterer made every image '
                    'an outlier and there are no earlier pseudo labels to '
                    'train on. Loosen the clusterer (e.g. a larger DBSCAN '
                    'eps or smaller min_samples; reidkit.clustering.'
                    'suggest_eps helps choose eps).')
            print_log(
                f'Epoch {runner.epoch}: every image is an outlier after '
                'clustering; keeping the previous pseudo labels '
                f'({int(previous.max()) + 1} clusters) for this epoch.',
                logger='current',
                level=logging.WARNING)
            labels = previous
            stats = cluster_statistics(labels)
            stats['kept_previous'] = 1

        start = time.perf_counter()
        model.set_pseudo_labels(labels, feats)
        self._sampler(runner).set_labels(labels)
        self._sampler_synced = True
        times['memory'] = time.perf_counter() - start

        if self.gt_pids is not None:
            stats.update(pseudo_label_quality(labels, self.gt_pids))
        self._log(runner, stats, times)
        return labels

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
