"""Pseudo-labelling clusterers: DBSCAN on Jaccard distances, k-means and
InfoMap (registered in ``CLUSTERERS``).

Every clusterer has ``fit_predict(features) -> labels``: ``features`` is an
N x D float array or tensor (CPU or CUDA), ``labels`` an int64 array of N
labels in ``0..C-1`` (contiguous) with -1 for outliers. After each call
``last_timings`` holds the seconds spent per stage and ``last_info`` what
was decided (e.g. the eps used), for the re-clustering hook to log.
"""
import logging
import numbers
import time
from typing import Dict, Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log
from sklearn.cluster import DBSCAN as SklearnDBSCAN
from sklearn.cluster import KMeans as SklearnKMeans

from reidkit.registry import CLUSTERERS
from .base import BaseClusterer, FeatureLike, _check_int, as_features
from .eps import MMT_RHO, mmt_eps
from .features import FeatureFile, row_source
from .ivf import build_approx_knn
from .jaccard import compute_jaccard_distance
from .knn import knn_search

__all__ = ['DBSCAN', 'KMeans', 'InfoMap']


def _as_input(features):
    """Checked features for the kNN-based clusterers: a FeatureFile as it
    is (read in blocks later), anything else through ``as_features``."""
    if isinstance(features, FeatureFile):
        return features
    return as_features(features, normalize=False, keep_device=True)


@CLUSTERERS.register_module()
class DBSCAN(BaseClusterer):
    """DBSCAN on the k-reciprocal Jaccard distance (CC, SpCL, MMT).

    Computes the **sparse** Jaccard distance of the L2-normalised features
    (:func:`~reidkit.clustering.jaccard.compute_jaccard_distance`), storing
    only the pairs closer than ``max_distance = min(eps + distance_margin,
    1)``, and runs ``sklearn.cluster.DBSCAN(eps, min_samples,
    metric='precomputed')`` on it. The labels equal those of DBSCAN on the
    dense N x N matrix (a missing entry is farther than ``eps``) at a
    fraction of its memory.

    ``eps='auto'`` is MMT's rule: on the **first** call the Jaccard matrix
    is computed in full (``max_distance=1.0``), eps is set to the mean of
    the smallest ``rho = 1.6e-3`` fraction of its non-zero strict
    upper-triangle distances (:func:`~reidkit.clustering.eps.mmt_eps`), and
    that eps is kept for every later call (as MMT fixes it at epoch 0).
    ``last_info['eps']`` holds the eps used; the computed value is also in
    ``eps_``. A new clusterer (e.g. after resuming) computes it again.

    Defaults are Cluster Contrast's: eps 0.6, min_samples 4, k1 30, k2 6.
    ``n_jobs`` defaults to 2, not the research code's -1, which has killed
    processes on big sets.

    **Scale.** ``features`` may be a
    :class:`~reidkit.clustering.features.FeatureFile` (features on disk,
    read in blocks; the same labels as in memory), and ``approx_knn``
    replaces the exact ``O(N^2 D)`` kNN of the Jaccard step with an
    inverted-file search (:func:`~reidkit.clustering.ivf.ivf_knn`), e.g.
    ``approx_knn=dict(type='ivf', nprobe=16)`` for hundreds of thousands
    of images or more. ``benchmarks/bench_scale.py`` measures both.

    Args:
        eps (float | str): Neighbourhood radius in Jaccard distance, in
            (0, 1), or 'auto'. Defaults to 0.6.
        min_samples (int): Neighbours (the point included) a core point
            needs. Defaults to 4.
        k1 (int): Jaccard k1. Defaults to 30.
        k2 (int): Jaccard k2 (query expansion). Defaults to 6.
        jaccard_variant (str): 'faiss' (CC/SpCL) or 'mmt'. Defaults to
            'faiss'.
        knn_backend (str): kNN backend of the Jaccard distance. Defaults to
            'auto'.
        distance_margin (float): Stored pairs reach ``eps + margin``.
            Defaults to 0.02.
        n_jobs (int): sklearn's DBSCAN ``n_jobs``. Defaults to 2.
        auto_eps (float, optional): ``rho`` of the automatic eps; ``None``
            means MMT's 1.6e-3. Only used with ``eps='auto'``. Defaults to
            None.
        approx_knn (dict, optional): Approximate kNN for the Jaccard step,
            ``dict(type='ivf', nlist=..., nprobe=..., train_size=...,
            niter=..., seed=...)``; ``jaccard_variant='faiss'`` only.
            Defaults to None (exact kNN).
        progress (bool): Log the stages of the Jaccard step. Defaults to
            False.

    Examples:
        >>> from reidkit.registry import CLUSTERERS
        >>> clusterer = CLUSTERERS.build(dict(type='DBSCAN', eps=0.6))
        >>> labels = clusterer.fit_predict(features)  # N x D
    """

    def __init__(self,
                 eps: Union[float, str] = 0.6,
                 min_samples: int = 4,
                 k1: int = 30,
                 k2: int = 6,
                 jaccard_variant: str = 'faiss',
                 knn_backend: str = 'auto',
                 distance_margin: float = 0.02,
                 n_jobs: Optional[int] = 2,
                 auto_eps: Optional[float] = None,
                 approx_knn: Optional[dict] = None,
                 progress: bool = False) -> None:
        super().__init__()
        if isinstance(eps, str):
            if eps != 'auto':
                raise ValueError(f"eps must be a float in (0, 1) or 'auto', "
                                 f'got {eps!r}.')
        elif (not isinstance(eps, numbers.Real) or isinstance(eps, bool)
              or not 0 < eps < 1):
            raise ValueError(
                f'eps must be in (0, 1) for Jaccard distances (which lie in '
                f"[0, 1]), got {eps!r}; CC uses 0.6, or pass 'auto' or use "
                'reidkit.clustering.suggest_eps.')
        _check_int('min_samples', min_samples, 1)
        _check_int('k1', k1, 1)
        _check_int('k2', k2, 1)
        if jaccard_variant not in ('faiss', 'mmt'):
            raise ValueError("jaccard_variant must be 'faiss' or 'mmt', got "
                             f'{jaccard_variant!r}.')
        if not isinstance(distance_margin, numbers.Real) or \
                distance_margin < 0:
            raise ValueError('distance_margin must be >= 0, got '
                             f'{distance_margin!r}.')
        if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral)
                                   or n_jobs == 0):
            raise ValueError(f'n_jobs must be a non-zero integer or None, '
                             f'got {n_jobs!r}.')
        if auto_eps is not None and not 0 < auto_eps <= 1:
            raise ValueError(f'auto_eps (rho) must be in (0, 1], got '
                             f'{auto_eps!r}.')
        if approx_knn is not None:
            build_approx_knn(approx_knn)  # checks the options now
            if jaccard_variant != 'faiss':
                raise ValueError(
                    "approx_knn works with jaccard_variant='faiss' only (the "
                    "'mmt' variant needs an exact N x N pass).")
        self.eps = eps
        self.min_samples = min_samples
        self.k1 = k1
        self.k2 = k2
        self.jaccard_variant = jaccard_variant
        self.knn_backend = knn_backend
        self.distance_margin = distance_margin
        self.n_jobs = n_jobs
        self.auto_eps = auto_eps
        self.approx_knn = approx_knn
        self.progress = progress
        #: The eps in use: ``eps``, or the automatic one once computed.
        self.eps_: Optional[float] = None if eps == 'auto' else float(eps)

    def fit_predict(self, features: FeatureLike) -> np.ndarray:
        """Cluster N x D features (L2-normalised here); -1 = outlier.

        ``features``: an array, a tensor (CPU or CUDA) or a
        :class:`~reidkit.clustering.features.FeatureFile`.
        """
        # compute_jaccard_distance L2-normalises the features itself.
        feats = _as_input(features)
        first_auto = self.eps_ is None
        max_distance = 1.0 if first_auto else min(
            self.eps_ + self.distance_margin, 1.0)
        stages: Dict[str, float] = {}
        start = time.perf_counter()
        dist = compute_jaccard_distance(
            feats,
            k1=self.k1,
            k2=self.k2,
            max_distance=max_distance,
            variant=self.jaccard_variant,
            knn_backend=self.knn_backend,
            timings=stages,
            approx_knn=self.approx_knn,
            progress=self.progress)
        elapsed = time.perf_counter() - start
        # Only non-overlapping stages (the hook sums them); the finer
        # Jaccard stages go to last_info.
        timings: Dict[str, float] = dict(
            knn=stages.get('knn', 0.0),
            jaccard=stages.get('jaccard', elapsed - stages.get('knn', 0.0)))
        info: Dict[str, object] = dict(
            jaccard_stages=stages,
            max_distance=max_distance,
            jaccard_nnz=int(dist.nnz),
            jaccard_mb=(dist.data.nbytes + dist.indices.nbytes +
                        dist.indptr.nbytes) / 2**20)
        if first_auto:
            start = time.perf_counter()
            rho = MMT_RHO if self.auto_eps is None else self.auto_eps
            self.eps_ = mmt_eps(dist, rho=rho, missing_value=1.0)
            timings['auto_eps'] = time.perf_counter() - start
            print_log(
                f'DBSCAN: automatic eps = {self.eps_:.4f} (mean of the '
                f'smallest {rho:g} of the pairwise Jaccard distances); '
                'kept for later calls.',
                logger='current',
                level=logging.INFO)
        info['eps'] = self.eps_
        info['eps_source'] = 'auto' if self.eps == 'auto' else 'fixed'
        start = time.perf_counter()
        labels = SklearnDBSCAN(
            eps=self.eps_,
            min_samples=self.min_samples,
            metric='precomputed',
            n_jobs=self.n_jobs).fit_predict(dist)
        timings['cluster'] = time.perf_counter() - start
        return self._finish(labels, timings, info)


@CLUSTERERS.register_module()
class KMeans(BaseClusterer):
    """k-means into ``num_clusters`` clusters (MMT, OpenUnReID); no outliers.

    ``backend='faiss'`` runs ``faiss.Kmeans`` (OpenUnReID's choice, with
    ``niter=300``), on the GPU when the features are a CUDA tensor and faiss
    has GPUs; ``'sklearn'`` runs ``sklearn.cluster.KMeans`` (MMT's choice,
    ``max_iter=niter``); ``'auto'`` takes faiss when it is installed.
    Clusters that end up empty are dropped, so the labels stay contiguous
    and there may be fewer than ``num_clusters`` (``last_info`` tells).

    Features are L2-normalised first when ``normalize`` is True (as
    OpenUnReID's ``norm_feat``); MMT's k-means script clusters the averaged
    teacher features without re-normalising (``normalize=False``).

    Args:
        num_clusters (int): K.
        niter (int): Iterations. Defaults to 300.
        seed (int): Random seed. Defaults to 0.
        backend (str): 'auto', 'faiss' or 'sklearn'. Defaults to 'auto'.
        normalize (bool): L2-normalise the features. Defaults to True.
        n_init (int): Runs from different initialisations, the best
            (lowest inertia) is kept (faiss ``nredo``, sklearn ``n_init``).
            Defaults to 1 (faiss's default; a single run can end in a
            poor local optimum on small sets, use 3-10 there).
    """

    def __init__(self,
                 num_clusters: int,
                 niter: int = 300,
                 seed: int = 0,
                 backend: str = 'auto',
                 normalize: bool = True,
                 n_init: int = 1) -> None:
        super().__init__()
        _check_int('num_clusters', num_clusters, 1)
        _check_int('niter', niter, 1)
        _check_int('n_init', n_init, 1)
        _check_int('seed', seed, 0)
        if backend not in ('auto', 'faiss', 'sklearn'):
            raise ValueError("backend must be 'auto', 'faiss' or 'sklearn', "
                             f'got {backend!r}.')
        self.num_clusters = num_clusters
        self.niter = niter
        self.seed = seed
        self.backend = backend
        self.normalize = normalize
        self.n_init = n_init

    def _resolve_backend(self) -> str:
        if self.backend != 'auto':
            return self.backend
        try:
            import faiss  # noqa: F401
        except ImportError:
            return 'sklearn'
        return 'faiss'

    def fit_predict(self, features: FeatureLike) -> np.ndarray:
        """Cluster N x D features into ``num_clusters`` clusters."""
        on_cuda = isinstance(features, torch.Tensor) and features.is_cuda
        if isinstance(features, FeatureFile):
            print_log(
                f'KMeans reads all {features.shape[0]} features of '
                f'{features.path} into memory '
                f'({features.nbytes / 2**30:.1f} GiB).',
                logger='current')
            features = features.read(0, len(features))
        feats = as_features(features, normalize=self.normalize)
        n = len(feats)
        if self.num_clusters > n:
            raise ValueError(
                f'num_clusters={self.num_clusters} is larger than the number '
                f'of samples ({n}); use num_clusters <= {n}.')
        backend = self._resolve_backend()
        start = time.perf_counter()
        info: Dict[str, object] = dict(backend=backend, gpu=False)
        if backend == 'faiss':
            import faiss
            use_gpu = on_cuda and getattr(faiss, 'get_num_gpus',
                                          lambda: 0)() > 0
            info['gpu'] = bool(use_gpu)
            km = faiss.Kmeans(
                feats.shape[1],
                self.num_clusters,
                niter=self.niter,
                nredo=self.n_init,
                seed=self.seed,
                gpu=bool(use_gpu),
                verbose=False,
                min_points_per_centroid=1)
            km.train(feats)
            _, assign = km.index.search(feats, 1)
            labels = assign.reshape(-1)
        else:
            labels = SklearnKMeans(
                n_clusters=self.num_clusters,
                max_iter=self.niter,
                n_init=self.n_init,
                random_state=self.seed).fit_predict(feats)
        timings = dict(cluster=time.perf_counter() - start)
        info['num_empty'] = int(self.num_clusters - np.unique(labels).size)
        return self._finish(labels, timings, info)


@CLUSTERERS.register_module()
class InfoMap(BaseClusterer):
    """InfoMap community detection on a kNN graph (Cluster Contrast).

    As ``cluster_contrast_train_usl_infomap.py`` does it:

    1. the ``k`` nearest neighbours of every L2-normalised feature (the
       point itself included; :func:`~reidkit.clustering.knn.knn_search`);
    2. a directed edge i -> j for every neighbour j != i with cosine
       similarity >= ``min_sim``, weighted by that similarity;
    3. two-level, directed Infomap (the ``infomap`` package);
    4. a node without a kept outgoing edge (no neighbour similar enough),
       and every member of a module with at most ``min_size`` such
       members, gets -1.

    **Deliberate deviation:** the research code drops the first one or two
    nodes of every module's member list (``v[2:]`` / ``v[1:]``), which
    turns arbitrary members into outliers; here every member keeps its
    module.

    ``seed`` and ``num_trials`` make the result deterministic.

    Args:
        k (int): Neighbours per node, self included. Defaults to 15.
        min_sim (float): Smallest kept cosine similarity, in [-1, 1].
            Defaults to 0.5.
        min_size (int): Modules with at most this many members are
            outliers. Defaults to 4.
        knn_backend (str): Passed to ``knn_search``. Defaults to 'auto'.
        seed (int): Infomap's seed, >= 1. Defaults to 123 (Infomap's
            default).
        num_trials (int): Infomap trials (the best is kept). Defaults to 1.
        approx_knn (dict, optional): Approximate kNN, e.g.
            ``dict(type='ivf', nprobe=16)`` (see ``knn_search``). Defaults
            to None (exact).

    ``features`` may be a :class:`~reidkit.clustering.features.FeatureFile`
    (read in blocks).
    """

    def __init__(self,
                 k: int = 15,
                 min_sim: float = 0.5,
                 min_size: int = 4,
                 knn_backend: str = 'auto',
                 seed: int = 123,
                 num_trials: int = 1,
                 approx_knn: Optional[dict] = None) -> None:
        super().__init__()
        _check_int('k', k, 2)
        if (not isinstance(min_sim, numbers.Real) or isinstance(min_sim, bool)
                or not -1 <= min_sim <= 1):
            raise ValueError('min_sim is a cosine similarity and must be in '
                             f'[-1, 1], got {min_sim!r}.')
        _check_int('min_size', min_size, 0)
        _check_int('seed', seed, 1)
        _check_int('num_trials', num_trials, 1)
        self.k = k
        self.min_sim = min_sim
        self.min_size = min_size
        self.knn_backend = knn_backend
        self.seed = seed
        self.num_trials = num_trials
        if approx_knn is not None:
            build_approx_knn(approx_knn)  # checks the options now
        self.approx_knn = approx_knn

    def fit_predict(self, features: FeatureLike) -> np.ndarray:
        """Cluster N x D features (L2-normalised here); -1 = outlier."""
        try:
            import infomap
        except ImportError as err:
            raise ImportError('InfoMap needs the infomap package: pip install '
                              'infomap==2.16.0') from err
        if isinstance(features, FeatureFile):
            feats = row_source(features, normalize=True)
        else:
            feats = as_features(features, keep_device=True)
        n = len(feats)
        timings: Dict[str, float] = {}
        start = time.perf_counter()
        sq_dists, nbrs = knn_search(
            feats,
            min(self.k, n),
            backend=self.knn_backend,
            approx=self.approx_knn)
        timings['knn'] = time.perf_counter() - start

        start = time.perf_counter()
        nbrs = np.asarray(nbrs, dtype=np.int64)
        # Unit vectors: cos = 1 - |a - b|^2 / 2.
        sims = 1.0 - np.asarray(sq_dists, dtype=np.float64) / 2.0
        src = np.repeat(np.arange(n), nbrs.shape[1]).reshape(nbrs.shape)
        keep = (nbrs != src) & (nbrs >= 0) & (sims >= self.min_sim)
        src, dst, weight = src[keep], nbrs[keep], sims[keep]
        has_edge = np.bincount(src, minlength=n) > 0
        timings['graph'] = time.perf_counter() - start

        start = time.perf_counter()
        labels = np.full(n, -1, dtype=np.int64)
        if src.size:
            im = infomap.Infomap(
                two_level=True,
                directed=True,
                silent=True,
                seed=self.seed,
                num_trials=self.num_trials)
            im.add_links(np.stack([src, dst, weight], axis=1))
            im.run()
            modules = im.get_modules(depth_level=1)
            nodes = np.fromiter(modules.keys(), np.int64, len(modules))
            labels[nodes] = np.fromiter(modules.values(), np.int64,
                                        len(modules))
        labels[~has_edge] = -1
        valid = labels >= 0
        if valid.any():
            sizes = np.bincount(labels[valid])
            labels[valid
                   & (sizes[np.maximum(labels, 0)] <= self.min_size)] = -1
        timings['cluster'] = time.perf_counter() - start
        info = dict(
            num_edges=int(src.size), num_isolated=int((~has_edge).sum()))
        return self._finish(labels, timings, info)
