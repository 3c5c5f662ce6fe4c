"""GDSStatsHook helpers by hand, and GDS-H plugged into the triplet host,
Cluster Contrast and MMT from configs."""
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from reidkit.apis import prepare_config
from reidkit.engine.hooks import (GDSStatsHook, bhattacharyya_coefficient,
                                  wrong_side_fraction)
from reidkit.models import MMT, ClusterContrast, PseudoLabelTriplet
from reidkit.structures import ReIDDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))


def test_bhattacharyya_by_hand():
    assert bhattacharyya_coefficient(0.5, 0.1, 0.5, 0.1) == pytest.approx(1)
    # equal sigmas: BC = exp(-(mu1 - mu2)^2 / (8 sigma^2))
    assert bhattacharyya_coefficient(0., 1., 2., 1.) == pytest.approx(
        math.exp(-0.5))
    # equal means, sigmas 1 and 2: BC = sqrt(2 * 1 * 2 / (1 + 4))
    assert bhattacharyya_coefficient(0., 1., 0., 2.) == pytest.approx(
        math.sqrt(0.8))


def test_wrong_side_fraction_by_hand():
    pos = np.array([0.1, 0.2, 0.9])  # 0.9 is past the midpoint 0.5
    neg = np.array([0.4, 0.8, 1.0, 1.2])  # 0.4 is before it
    assert wrong_side_fraction(pos, neg, 0.5) == pytest.approx(2 / 7)


def _samples(n):
    out = []
    for i in range(n):
        s = ReIDDataSample()
        s.set_metainfo(dict(sample_idx=i, camid=0, is_query=False))
        s.gt_pid, s.gt_label = -1, -1
        out.append(s)
    return out


@pytest.mark.parametrize('host', ['triplet', 'cc', 'mmt'])
def test_pair_losses_plug_into_every_host(host):
    torch.manual_seed(0)
    common = dict(
        backbone=dict(type='ResNet', depth=18, last_stride=1),
        neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
        pair_losses=dict(gds=dict(type='GDSLoss', lambda_h=1.0)))
    model = dict(
        triplet=lambda: PseudoLabelTriplet(**common),
        cc=lambda: ClusterContrast(**common),
        mmt=lambda: MMT(num_classes=4, **common))[host]()
    model.init_weights()
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    model.set_pseudo_labels(labels, torch.randn(8, 512))
    x = torch.rand(8, 3, 32, 16)
    inputs = [x, x.flip(3)] if host == 'mmt' else x
    losses = model.train()(inputs, _samples(8), mode='loss')
    assert torch.isfinite(losses['loss_gds']) and losses['loss_gds'] > 0
    gds = [m for name, m in model.named_modules()
           if type(m).__name__ == 'GDSLoss']
    assert len(gds) == (2 if host == 'mmt' else 1)
    assert all(g.commit() for g in gds)
    keys = [k for k in model.state_dict() if k.endswith('mu_pos')]
    assert len(keys) == len(gds)


def test_gds_h_triplet_host_in_the_runner(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'gds', 'gds_h_triplet_r18_synthetic.py'))
    opts = {
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 16,
        'train_dataloader.sampler.iters_per_epoch': 3,
        'custom_hooks.0.progress': False,
        'custom_hooks.1.hist_interval': 1,
        'default_hooks.checkpoint.interval': 1,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    cfg.merge_from_dict(opts)
    # the tiny set at random init gives one DBSCAN cluster: use 8 k-means
    cfg.custom_hooks[0]['clusterer'] = dict(
        type='KMeans', num_clusters=8, backend='sklearn')
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(prepare_config(cfg))
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, GDSStatsHook)][0]
    stats = hook.last_stats['pair_losses.gds']
    assert 0 <= stats['overlap'] <= 1 and 0 <= stats['wrong_side'] <= 1
    assert stats['mu_neg'] > 0
    log = open(glob.glob(str(tmp_path / '*' / '*.log'))[0]).read()
    assert 'GDS pair_losses.gds after epoch 2' in log
    images = glob.glob(str(tmp_path / '*' / 'vis_data' / 'vis_image' /
                           'gds_pair_losses_gds_distances_*.png'))
    assert len(images) == 2
    saved = torch.load(str(tmp_path / 'epoch_2.pth'),
                       map_location='cpu')['state_dict']
    assert float(saved['pair_losses.gds.mu_neg']) == pytest.approx(
        stats['mu_neg'])
