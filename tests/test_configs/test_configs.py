"""Every shipped config parses and builds its model, clusterer and hook."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from reidkit.registry import CLUSTERERS, HOOKS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '*', '*.py')))
CONFIGS = [c for c in CONFIGS if '_base_' not in c]


def test_configs_found():
    names = {osp.basename(c) for c in CONFIGS}
    for expected in ('cc_r50_market1501.py', 'cc_r50_dukemtmcreid.py',
                     'cc_r50_msmt17.py', 'cc_r50_veri776.py',
                     'cc_r50_personx.py', 'cc_r50_infomap_market1501.py',
                     'cc_r50_gem_market1501.py', 'cc_r18_synthetic.py'):
        assert expected in names


def _without_pretrained(cfg):
    """Drop ``init_cfg=dict(type='Pretrained')`` entries: ImageNet weights do
    not exist here, and the backbones check the file exists when built."""
    if isinstance(cfg, dict):
        init = cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        for value in cfg.values():
            _without_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _without_pretrained(value)
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(_without_pretrained(cfg.model))
    assert model.feat_dim > 0
    text = open(path).read()
    if 'synthetic' not in path:
        assert 'Expected:' in text, 'paper configs state the expected result'
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == 'PseudoLabelHook':
            built = HOOKS.build(hook)
            assert hasattr(built.clusterer, 'fit_predict')
            CLUSTERERS.build(hook['clusterer'])


def test_cluster_contrast_paper_defaults():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r50_market1501.py'))
    assert cfg.model.memory == dict(
        type='ClusterMemory', temperature=0.05, momentum=0.1, update='mean')
    assert cfg.model.neck.pooling.type == 'AvgPooling'
    assert cfg.model.data_preprocessor.batch_augments == [
        dict(type='RandomErasing', prob=0.5)]
    assert cfg.train_dataloader.batch_size == 256
    assert cfg.train_dataloader.sampler.num_instances == 16
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=3.5e-4, weight_decay=5e-4)
    assert cfg.train_cfg.max_epochs == 50
    assert cfg.param_scheduler[0].step_size == 20
    clusterer = cfg.custom_hooks[0].clusterer
    assert (clusterer.eps, clusterer.min_samples, clusterer.k1,
            clusterer.k2) == (0.6, 4, 30, 6)


def test_mmt_paper_defaults():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'mmt', 'mmt_r50_duke2market_k500.py'))
    m = cfg.model
    assert (m.type, m.num_classes, m.alpha, m.soft_ce_weight,
            m.soft_tri_weight) == ('MMT', 500, 0.999, 0.5, 0.8)
    assert m.data_preprocessor.batch_augments == [
        dict(type='RandomErasing', prob=0.5)]
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_dataloader.sampler.num_instances == 4
    assert cfg.train_dataloader.sampler.iters_per_epoch == 400
    assert cfg.train_dataloader.dataset.pipeline[1].num_views == 2
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=3.5e-4, weight_decay=5e-4)
    assert cfg.param_scheduler == [] and cfg.train_cfg.max_epochs == 40
    hooks = [h.type for h in cfg.custom_hooks]
    assert hooks == ['PseudoLabelHook', 'MeanTeacherHook',
                     'OptimizerResetHook']
    assert cfg.custom_hooks[0].clusterer == dict(
        type='KMeans', num_clusters=500, backend='sklearn', normalize=False)
    dbscan = Config.fromfile(
        osp.join(ROOT, 'configs', 'mmt', 'mmt_r50_duke2market_dbscan.py'))
    assert dbscan.custom_hooks[0].clusterer == dict(
        type='DBSCAN', eps='auto', min_samples=4, k1=20, k2=6,
        jaccard_variant='mmt')
    assert dbscan.model.num_classes == 12936
    pre = Config.fromfile(
        osp.join(ROOT, 'configs', 'mmt', 'mmt_pretrain_r50_duke2market.py'))
    assert pre.model.type == 'SupervisedReID'
    assert pre.custom_hooks[0].type == 'TargetBNAdaptHook'
    assert pre.custom_hooks[0].dataloader.dataset.type == 'Market1501'
    assert pre.train_dataloader.dataset.type == 'DukeMTMCreID'
