"""PseudoLabelHook on the tiny synthetic set, inside mmengine's Runner."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from reidkit.apis import prepare_config
from reidkit.engine.hooks import (PseudoLabelHook, camera_standardize,
                                  relabel_contiguous)
from reidkit.registry import CLUSTERERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast',
                  'cc_r18_synthetic.py')

pytestmark = pytest.mark.slow


@CLUSTERERS.register_module(force=True)
class ScriptedClusterer:
    """Clusters by ground truth split in two halves, except on the calls
    listed in ``outlier_calls`` where every image is an outlier."""

    calls = 0

    def __init__(self, num_clusters=8, outlier_calls=()):
        self.num_clusters = num_clusters
        self.outlier_calls = set(outlier_calls)

    def fit_predict(self, features):
        call = ScriptedClusterer.calls
        ScriptedClusterer.calls += 1
        n = len(features)
        if call in self.outlier_calls:
            return -np.ones(n, dtype=np.int64)
        # Deterministic, feature-based: k-means on the features.
        from sklearn.cluster import KMeans
        labels = KMeans(self.num_clusters, n_init=1,
                        random_state=0).fit_predict(features)
        return labels * 10 + 5  # not contiguous: the hook relabels


class Recorder(Hook):
    priority = 'VERY_LOW'  # after the PseudoLabelHook

    def __init__(self):
        self.labels = {}

    def before_train_epoch(self, runner):
        model = runner.model
        sampler = runner.train_dataloader.sampler
        self.labels[runner.epoch] = (model.pseudo_labels.clone(),
                                     sampler.labels.copy())


def tiny_cfg(work_dir, cache_root, name, clusterer, **overrides):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': 3,
        'train_cfg.val_interval': 3,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 16,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
        'default_hooks.logger.interval': 1,
        'custom_hooks.0.progress': False,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache_root,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    opts.update(overrides)
    cfg.merge_from_dict(opts)
    # Replace (not merge into) the config's DBSCAN settings.
    cfg.custom_hooks[0]['clusterer'] = clusterer
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    return prepare_config(cfg)


def _hook(runner):
    return [h for h in runner.hooks if isinstance(h, PseudoLabelHook)][0]


def test_relabel_contiguous():
    out = relabel_contiguous(np.array([7, -1, 3, 7, 12, -1]))
    assert out.tolist() == [1, -1, 0, 1, 2, -1]


def test_camera_standardize_by_hand():
    # camera 0: rows (1, 2), (3, 2) -> mean (2, 2), std (1, 0)
    #   -> (-1, 0), (1, 0) (0 / (0 + 1e-6) = 0)
    # camera 1: rows (0, 5), (0, 1) -> mean (0, 3), std (0, 2)
    #   -> (0, 1), (0, -1)
    feats = np.array([[1., 2.], [0., 5.], [3., 2.], [0., 1.]])
    out = camera_standardize(feats, np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(
        out, [[-1, 0], [0, 1], [1, 0], [0, -1]], atol=1e-5)


def test_hook_relabels_logs_quality_and_survives_all_outliers(
        tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    ScriptedClusterer.calls = 0
    runner = Runner.from_cfg(
        tiny_cfg(tmp_path, cache, 'cc', dict(
            type='ScriptedClusterer', num_clusters=8, outlier_calls=[1])))
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    assert ScriptedClusterer.calls == 3
    n = len(runner.train_dataloader.dataset)
    for epoch in range(3):
        model_labels, sampler_labels = rec.labels[epoch]
        assert len(model_labels) == n
        assert sorted(set(model_labels.tolist())) == list(range(8))
        assert np.array_equal(model_labels.numpy(), sampler_labels)
    # Epoch 1: every image an outlier -> the epoch-0 labels were kept.
    assert torch.equal(rec.labels[1][0], rec.labels[0][0])
    assert runner.model.memory.num_clusters == 8

    hook = _hook(runner)
    stats = hook.last_stats
    assert stats['num_clusters'] == 8 and stats['num_outliers'] == 0
    for key in ('nmi', 'ari', 'pairwise_precision', 'pairwise_recall',
                'time_extract', 'time_cluster', 'time_memory'):
        assert key in stats
    assert 0 <= stats['nmi'] <= 1

    log = open(glob.glob(osp.join(tmp_path, '*', '*.log'))[0]).read()
    assert 'Epoch 0 pseudo labels: 8 clusters, 0 outliers' in log
    assert 'quality NMI' in log
    assert 'every image is an outlier after clustering' in log
    scalars = [
        json.loads(line) for line in open(
            glob.glob(osp.join(tmp_path, '*', 'vis_data', 'scalars.json'))
            [0])
    ]
    pl = [s for s in scalars if 'pseudo_label/nmi' in s]
    assert [s['step'] for s in pl] == [0, 1, 2]
    assert all('pseudo_label/num_clusters' in s for s in pl)


def test_first_clustering_all_outliers_is_an_error(
        tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    ScriptedClusterer.calls = 0
    runner = Runner.from_cfg(
        tiny_cfg(tmp_path, cache, 'cc', dict(
            type='ScriptedClusterer', outlier_calls=[0])))
    with pytest.raises(RuntimeError, match='every image an outlier'):
        runner.train()


def test_extraction_set_must_match_train_set(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = tiny_cfg(tmp_path, cache, 'cc', dict(type='ScriptedClusterer'))
    test_set = dict(cfg.test_dataloader.dataset)  # query + gallery
    cfg.custom_hooks[0]['dataloader'] = dict(
        batch_size=8, num_workers=0, dataset=test_set)
    with pytest.raises(ValueError, match='same order'):
        Runner.from_cfg(cfg).train()


def test_resume_continues_with_checkpoint_labels(tmp_path,
                                                 synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    clusterer = dict(type='ScriptedClusterer', num_clusters=6)
    ScriptedClusterer.calls = 0
    first = Runner.from_cfg(
        tiny_cfg(tmp_path, cache, 'first', clusterer,
                 **{'custom_hooks.0.interval': 2,
                    'train_cfg.max_epochs': 2}))
    rec = Recorder()
    first.register_hook(rec)
    first.train()
    assert ScriptedClusterer.calls == 1  # epoch 0 only (interval 2)
    ckpt = osp.join(tmp_path, 'epoch_1.pth')
    saved = torch.load(ckpt, map_location='cpu')['state_dict']
    assert torch.equal(saved['pseudo_labels'], rec.labels[0][0])

    ScriptedClusterer.calls = 0
    resumed = Runner.from_cfg(
        tiny_cfg(tmp_path / 'resumed', cache, 'resumed', clusterer,
                 resume=True, load_from=ckpt,
                 **{'custom_hooks.0.interval': 2,
                    'train_cfg.max_epochs': 2}))
    rec2 = Recorder()
    resumed.register_hook(rec2)
    resumed.train()
    # Resumed at epoch 1, between two clusterings: no new clustering, the
    # checkpoint's labels reach the model and the sampler.
    assert ScriptedClusterer.calls == 0
    labels, sampler_labels = rec2.labels[1]
    assert torch.equal(labels, rec.labels[0][0])
    assert np.array_equal(sampler_labels, labels.numpy())
    # The memory was restored at the checkpoint's size (6 clusters).
    assert (resumed.model.memory.features.shape ==
            saved['memory.features'].shape)
    assert resumed.model.memory.features.shape[0] == 6
