"""Degenerate clusterings keep the run going with a warning and no NaN:
every image an outlier, one giant cluster, one image per cluster, and
fewer images than k1."""
import glob
import json
import math
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from reidkit.apis import prepare_config
from reidkit.clustering import compute_jaccard_distance, jaccard
from reidkit.registry import CLUSTERERS
from tests.conftest import tiny_loader_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
CONFIGS = dict(
    cc=osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py'),
    triplet=osp.join(ROOT, 'configs', 'gds', 'gds_h_triplet_r18_synthetic.py'),
    mmt=osp.join(ROOT, 'configs', 'mmt', 'mmt_r18_synthetic_a2b.py'))


@CLUSTERERS.register_module(force=True)
class DegenerateClusterer:
    """Plays a script of degenerate results, one per call."""

    script = ()
    calls = 0

    def __init__(self, **kwargs):
        pass

    def fit_predict(self, features):
        n = len(features)
        mode = self.script[DegenerateClusterer.calls]
        DegenerateClusterer.calls += 1
        if mode == 'outliers':
            return -np.ones(n, dtype=np.int64)
        if mode == 'one':  # one cluster and a few outliers
            labels = np.zeros(n, dtype=np.int64)
            labels[:3] = -1
            return labels
        if mode == 'singletons':
            return np.arange(n, dtype=np.int64)[::-1].copy()
        raise ValueError(mode)


class Recorder(Hook):
    priority = 'VERY_LOW'  # after the PseudoLabelHook

    def __init__(self):
        self.labels = []

    def before_train_epoch(self, runner):
        self.labels.append(runner.model.pseudo_labels.clone().numpy())


def run(tmp_path, cache, host, script):
    cfg = Config.fromfile(CONFIGS[host])
    opts = {
        'train_cfg.max_epochs': len(script),
        'train_cfg.val_interval': 100,
        'train_dataloader.sampler.iters_per_epoch': 1,
        'train_dataloader.batch_size': 8,
        'default_hooks.logger.interval': 1,
        'custom_hooks.0.progress': False,
        'custom_hooks.0.clusterer': dict(type='DegenerateClusterer'),
    }
    if host == 'mmt':
        opts.update({'model.pretrained': None, 'model.num_classes': 100})
    opts.update(tiny_loader_options(cache))
    cfg.merge_from_dict(opts)
    cfg.work_dir = str(tmp_path)
    DegenerateClusterer.script = script
    DegenerateClusterer.calls = 0
    runner = Runner.from_cfg(prepare_config(cfg))
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    log = open(glob.glob(osp.join(str(tmp_path), '*', '*.log'))[0]).read()
    scalars = [json.loads(line) for line in open(glob.glob(
        osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))[0])]
    losses = [v for s in scalars for k, v in s.items()
              if k.startswith('loss')]
    return runner, rec.labels, log, losses


@pytest.mark.slow
@pytest.mark.parametrize('host', ['cc', 'triplet', 'mmt'])
def test_degenerate_clusterings_continue(tmp_path, synthetic_tiny_root,
                                         host):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    runner, labels, log, losses = run(
        tmp_path, cache, host, ['outliers', 'one', 'singletons'])
    n = len(runner.train_dataloader.dataset)
    singletons = np.arange(n)
    # epoch 0, every image an outlier and nothing earlier: singletons
    assert np.array_equal(np.sort(labels[0]), singletons)
    assert ('every image is an outlier after clustering and there are no '
            f'earlier pseudo labels; training this epoch with every image '
            f'as its own pseudo identity ({n} singletons') in log
    # epoch 1, one giant cluster: the previous labels are kept
    assert np.array_equal(labels[1], labels[0])
    assert (f'all {n - 3} clustered images are in one cluster after '
            'clustering; keeping the previous pseudo labels') in log
    # epoch 2, one image per cluster: used as it is
    assert len(set(labels[2].tolist())) == n
    assert runner.epoch == 3
    assert losses and all(math.isfinite(v) for v in losses), losses


def test_fewer_images_than_k1_warns(monkeypatch):
    logged = []
    monkeypatch.setattr(jaccard, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    feats = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    dist = compute_jaccard_distance(feats, k1=30, k2=6)
    assert dist.shape == (12, 12)
    assert np.isfinite(dist.data).all()
    assert any('only 12 images for k1=30' in m for m in logged)
    labels = CLUSTERERS.build(dict(type='DBSCAN', eps=0.6)).fit_predict(feats)
    assert len(labels) == 12


@pytest.mark.slow
def test_run_with_fewer_images_than_k1(tmp_path, synthetic_tiny_root):
    """The config's DBSCAN with k1 = 200 on the 102 tiny train images: the
    run warns and trains."""
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = Config.fromfile(CONFIGS['cc'])
    cfg.merge_from_dict(dict({
        'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 100,
        'train_dataloader.sampler.iters_per_epoch': 1,
        'train_dataloader.batch_size': 8,
        'custom_hooks.0.progress': False,
        'custom_hooks.0.clusterer.k1': 200}, **tiny_loader_options(cache)))
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(prepare_config(cfg))
    runner.train()
    log = open(glob.glob(osp.join(str(tmp_path), '*', '*.log'))[0]).read()
    n = len(runner.train_dataloader.dataset)
    assert f'only {n} images for k1=200' in log
    assert runner.epoch == 1
