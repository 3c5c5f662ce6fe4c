"""Streaming re-ID metric around :func:`reidkit.evaluation.evaluate_rank`."""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from reidkit.registry import METRICS
from ..functional import evaluate_rank, re_ranking


def pairwise_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between rows (x: M x D, y: N x D)."""
    dist = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1)[None] -
            2 * x @ y.t())
    return dist.clamp_(min=0)


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """mAP, CMC rank-k and mINP on the standard re-ID protocol.

    Features of query and gallery images (``is_query`` in each sample) are
    L2-normalised (``normalize=True``) and compared with squared Euclidean
    distance, which ranks like cosine distance; then
    :func:`~reidkit.evaluation.evaluate_rank` removes same-identity
    same-camera gallery entries and skips queries without a true match.

    Values are percentages. Result keys are ``mAP``, ``rank1`` (for each of
    ``ranks``) and ``mINP``; when flip test-time augmentation (set in the
    model's ``test_cfg``) or re-ranking is on, the keys carry a suffix
    (``mAP_flip``, ``mAP_rerank``, ``mAP_flip_rerank``) so that every result
    line names the protocol; the defaults (both off) match the papers.
    Datasets without camera ids (camid -1) keep same-camera matches and the
    keys get ``_samecam``, with a warning.

    The whole CMC curve of the last evaluation is kept in
    :attr:`last_results` (on the main process), for ``tools/test.py``.

    With ``save_file`` the main process also writes the evaluated distances
    to an ``.npz`` file (overwriting it) after every evaluation, for
    ``tools/analysis/visualize_ranks.py``. Its arrays:

    - ``distmat``: ``Q x G`` float32, the distances that were evaluated
      (squared Euclidean between the features below; after re-ranking when
      it is on);
    - ``query_feats``, ``gallery_feats``: float32 features (L2-normalised
      with ``normalize=True``, the default);
    - ``query_img_paths``, ``gallery_img_paths``: image paths ('' where the
      samples carried none);
    - ``q_pids``, ``g_pids``, ``q_camids``, ``g_camids``: int64 ids (camera
      ids as the data set gives them, -1 = unknown);
    - ``protocol`` (str, e.g. 'standard' or 'rerank(k1=20, ...)'),
      ``normalized`` (bool), ``metrics_json`` (str: the reported metrics).

    Example:
        >>> val_evaluator = dict(type='ReIDMetric', ranks=(1, 5, 10))
        >>> # or, with k-reciprocal re-ranking:
        >>> val_evaluator = dict(type='ReIDMetric', rerank=dict(k1=20, k2=6,
        ...                      lambda_value=0.3))

    Args:
        ranks (Sequence[int]): CMC ranks to report. Defaults to (1, 5, 10).
        max_rank (int): Length of the CMC curve. Defaults to 50.
        normalize (bool): L2-normalise features. Defaults to True.
        rerank (bool | dict): k-reciprocal re-ranking (Zhong et al. 2017);
            True uses k1=20, k2=6, lambda_value=0.3, a dict overrides them.
            Defaults to False.
        feature_key (str): The data-sample field holding the embedding.
            Defaults to 'pred_feature' (MMT's configs evaluate both
            teachers with 'pred_feature_t1' and 'pred_feature_t2').
        save_file (str, optional): Write the distances, ids, paths and
            features of every evaluation to this ``.npz`` file (see above).
            Defaults to None.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'reid'.
    """

    default_prefix = 'reid'

    def __init__(self,
                 ranks: Sequence[int] = (1, 5, 10),
                 max_rank: int = 50,
                 normalize: bool = True,
                 rerank: Union[bool, dict] = False,
                 feature_key: str = 'pred_feature',
                 save_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if any(r < 1 or r > max_rank for r in ranks):
            raise ValueError(f'ranks must be in [1, max_rank={max_rank}], '
                             f'got {tuple(ranks)}.')
        self.ranks = tuple(ranks)
        self.max_rank = max_rank
        self.feature_key = feature_key
        self.normalize = normalize
        if rerank is True:
            rerank = {}
        self.rerank = None if rerank is False else dict(
            dict(k1=20, k2=6, lambda_value=0.3), **rerank)
        if save_file is not None:
            save_file = os.fspath(save_file)
            if not save_file.endswith('.npz'):
                raise ValueError(
                    f'ReIDMetric(save_file={save_file!r}): the dump is an '
                    'npz archive; give a file name ending in ".npz".')
        self.save_file = save_file
        self.last_results: Optional[dict] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if self.feature_key not in sample:
                raise KeyError(
                    f'ReIDMetric(feature_key={self.feature_key!r}): the '
                    'model\'s predictions have no such field (they have '
                    f'{sorted(k for k in sample if k.startswith("pred"))}).')
            self.results.append(
                dict(
                    feature=sample[self.feature_key].detach().float().cpu(),
                    pid=int(sample['gt_pid']),
                    camid=int(sample['camid']),
                    is_query=bool(sample['is_query']),
                    flip=bool(sample.get('flip_test', False)),
                    img_path=sample.get('img_path') or ''))

    def protocol_tags(self, flip: bool, has_cams: bool) -> List[str]:
        tags = []
        if flip:
            tags.append('flip')
        if self.rerank is not None:
            tags.append('rerank')
        if not has_cams:
            tags.append('samecam')
        return tags

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        query = [r for r in results if r['is_query']]
        gallery = [r for r in results if not r['is_query']]
        if not query or not gallery:
            raise ValueError(
                f'ReIDMetric got {len(query)} query and {len(gallery)} '
                "gallery images; evaluate on a split='test' dataset that "
                'holds both (is_query marks the queries).')
        qf = torch.stack([r['feature'] for r in query])
        gf = torch.stack([r['feature'] for r in gallery])
        if not (torch.isfinite(qf).all() and torch.isfinite(gf).all()):
            raise ValueError('ReIDMetric: the model produced NaN or inf '
                             'features; training has diverged.')
        if self.normalize:
            qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
        q_pids = np.array([r['pid'] for r in query])
        g_pids = np.array([r['pid'] for r in gallery])
        q_cams = np.array([r['camid'] for r in query])
        g_cams = np.array([r['camid'] for r in gallery])
        has_cams = bool((q_cams >= 0).all() and (g_cams >= 0).all())
        if not has_cams:
            print_log(
                'ReIDMetric: some images have no camera id (-1), so '
                'same-camera gallery matches are KEPT; the standard protocol '
                'removes them, so these numbers are not comparable with '
                'benchmark results.',
                logger='current',
                level=logging.WARNING)
            q_cams = g_cams = None
        distmat = pairwise_distance(qf, gf).numpy()
        if self.rerank is not None:
            distmat = re_ranking(distmat,
                                 pairwise_distance(qf, qf).numpy(),
                                 pairwise_distance(gf, gf).numpy(),
                                 **self.rerank)
        res = evaluate_rank(
            distmat, q_pids, g_pids, q_cams, g_cams, max_rank=self.max_rank)
        flip = any(r['flip'] for r in results)
        tags = self.protocol_tags(flip, has_cams)
        suffix = ''.join('_' + t for t in tags)
        metrics = {f'mAP{suffix}': 100 * res['mAP']}
        for r in self.ranks:
            metrics[f'rank{r}{suffix}'] = 100 * float(res['cmc'][r - 1])
        metrics[f'mINP{suffix}'] = 100 * res['mINP']
        protocol = ', '.join(tags) if tags else 'standard'
        if self.rerank is not None:
            protocol = protocol.replace(
                'rerank', 'rerank(k1={k1}, k2={k2}, lambda={lambda_value})'
                .format(**self.rerank))
        if self.save_file is not None:
            self.save_dump(
                self.save_file,
                distmat=distmat,
                query=query,
                gallery=gallery,
                qf=qf,
                gf=gf,
                protocol=protocol,
                metrics=metrics)
        self.last_results = dict(
            metrics=dict(metrics),
            cmc=[100 * float(v) for v in res['cmc']],
            protocol=protocol,
            num_query=len(query),
            num_gallery=len(gallery),
            num_valid_queries=res['num_valid_queries'],
            num_skipped_queries=res['num_skipped_queries'])
        print_log(
            f'ReID results [{protocol}] on {len(query)} queries / '
            f'{len(gallery)} gallery ({res["num_skipped_queries"]} queries '
            'without a true match skipped): ' + ', '.join(
                f'{k} {v:.2f}' for k, v in metrics.items()),
            logger='current')
        return metrics

    def save_dump(self, save_file: str, distmat: np.ndarray,
                  query: List[dict], gallery: List[dict], qf: torch.Tensor,
                  gf: torch.Tensor, protocol: str,
                  metrics: Dict[str, float]) -> None:
        """Write the evaluated distances and what they came from (npz).

        Args:
            save_file (str): The ``.npz`` file (overwritten; parent folders
                are created).
            distmat (np.ndarray): ``Q x G`` evaluated distances.
            query (list[dict]): Query results (``img_path``, ``pid``,
                ``camid``).
            gallery (list[dict]): Gallery results.
            qf (Tensor): Query features the distances were computed from.
            gf (Tensor): Gallery features.
            protocol (str): The protocol name of the results.
            metrics (dict): The reported metrics.
        """
        parent = osp.dirname(osp.abspath(save_file))
        os.makedirs(parent, exist_ok=True)
        np.savez(
            save_file,
            distmat=np.asarray(distmat, dtype=np.float32),
            query_feats=qf.numpy().astype(np.float32),
            gallery_feats=gf.numpy().astype(np.float32),
            query_img_paths=np.array([r.get('img_path') or ''
                                      for r in query], dtype=str),
            gallery_img_paths=np.array([r.get('img_path') or ''
                                        for r in gallery], dtype=str),
            q_pids=np.array([r['pid'] for r in query], dtype=np.int64),
            g_pids=np.array([r['pid'] for r in gallery], dtype=np.int64),
            q_camids=np.array([r['camid'] for r in query], dtype=np.int64),
            g_camids=np.array([r['camid'] for r in gallery],
                              dtype=np.int64),
            protocol=np.array(protocol),
            normalized=np.array(bool(self.normalize)),
            metrics_json=np.array(json.dumps(metrics)))
        print_log(
            f'ReIDMetric: wrote distances, ids and features of '
            f'{len(query)} queries / {len(gallery)} gallery images to '
            f'{save_file}',
            logger='current')
