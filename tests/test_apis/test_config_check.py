"""check_config: unknown types and arguments with suggestions, missing
arguments, contradictions; all shipped configs pass."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from reidkit.apis import prepare_config
from reidkit.apis.config_check import (ConfigError, check_config,
                                       closest_names)

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CC = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')
CONFIGS = sorted(
    f for f in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in f)


def cc_cfg(**options):
    cfg = Config.fromfile(CC)
    cfg.merge_from_dict(options)
    return cfg


def problems(cfg):
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    return str(info.value)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(path))


def test_closest_names():
    names = ['ResNet', 'ResNetIBN', 'BNNeck', 'mmcv.RandomFlip']
    assert closest_names('Resnet', names)[0] == 'ResNet'
    assert closest_names('resnet', names)[0] == 'ResNet'
    assert closest_names('RandomFlp', names) == ['mmcv.RandomFlip']
    assert closest_names('Transformer', names) == []


@pytest.mark.parametrize('key,value,expected', [
    ('model.backbone.type', 'Resnet',
     "model.backbone.type='Resnet' is not a registered model component. "
     "Did you mean 'ResNet'"),
    ('model.type', 'ClusterContrastt',
     "Did you mean 'ClusterContrast'"),
    ('custom_hooks.0.type', 'PseudoLabelHok', "Did you mean "
     "'PseudoLabelHook'"),
    ('custom_hooks.0.clusterer.type', 'DBScan',
     "custom_hooks[0].clusterer.type='DBScan' is not a registered "
     "clusterer. Did you mean 'DBSCAN'?"),
    ('train_dataloader.dataset.type', 'SyntheticReid',
     "Did you mean 'SyntheticReID'"),
    ('train_dataloader.sampler.type', 'IdentitySamper',
     "Did you mean 'IdentitySampler'"),
    ('val_evaluator.type', 'ReidMetric', "Did you mean 'ReIDMetric'"),
    ('optim_wrapper.optimizer.type', 'adam', "Did you mean 'Adam'"),
    ('default_hooks.logger.type', 'LogerHook',
     "Did you mean 'LoggerHook'"),
])
def test_unknown_type_names_closest(key, value, expected):
    assert expected in problems(cc_cfg(**{key: value}))


def test_unknown_pipeline_transform():
    cfg = cc_cfg()
    cfg.train_dataloader.dataset.pipeline[3]['type'] = 'RandomPadCrp'
    msg = problems(cfg)
    assert "train_dataloader.dataset.pipeline[3].type='RandomPadCrp'" in msg
    assert "'RandomPadCrop'" in msg


def test_unknown_and_missing_arguments():
    cfg = cc_cfg(**{'model.memory.temprature': 0.05,
                    'custom_hooks.0.clusterer.esp': 0.5,
                    'custom_hooks.0.camera_normalise': True})
    msg = problems(cfg)
    assert ("model.memory: ClusterMemory has no argument 'temprature'. "
            "Did you mean 'temperature'?") in msg
    assert ("custom_hooks[0].clusterer: DBSCAN has no argument 'esp'. "
            "Did you mean 'eps'?") in msg
    assert "Did you mean 'camera_normalize'?" in msg
    assert 'has 3 problem(s)' in msg

    cfg = cc_cfg()
    del cfg.custom_hooks[0]['clusterer']
    assert ("custom_hooks[0]: PseudoLabelHook needs 'clusterer'"
            in problems(cfg))
    cfg = cc_cfg()
    del cfg.model['backbone']
    assert "model: ClusterContrast needs 'backbone'" in problems(cfg)


def test_contradictions():
    msg = problems(cc_cfg(**{'train_dataloader.batch_size': 62}))
    assert ('train_dataloader.batch_size (62) is not a multiple of '
            'train_dataloader.sampler.num_instances (4)') in msg
    msg = problems(cc_cfg(**{'model.bn_samples': 24}))
    assert 'model.bn_samples (24) does not divide' in msg
    cfg = cc_cfg()
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    assert 'cannot take pseudo labels' in problems(cfg)


def test_top_level_typo():
    cfg = cc_cfg()
    cfg['custom_hook'] = cfg.pop('custom_hooks')
    assert ("Top-level key 'custom_hook' is not read by the Runner (it "
            "would be ignored). Did you mean 'custom_hooks'?"
            in problems(cfg))


def test_reported_before_data_is_read(tmp_path):
    """A Market-1501 config with no data on disk: the config mistake is
    what the user hears about, from prepare_config (the tools call it
    before building the Runner)."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r50_market1501.py'))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': str(tmp_path / 'missing'),
        'custom_hooks.0.clusterer.type': 'DBSCN'})
    with pytest.raises(ConfigError, match="Did you mean 'DBSCAN'"):
        prepare_config(cfg)


def test_train_tool_reports_problems_without_traceback(tmp_path,
                                                       monkeypatch):
    import importlib.util
    import sys
    cfg = cc_cfg(**{'custom_hooks.0.clusterer.type': 'DBSCN'})
    path = str(tmp_path / 'bad.py')
    cfg.dump(path)
    spec = importlib.util.spec_from_file_location(
        'reidkit_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    monkeypatch.setattr(sys, 'argv', ['train.py', path, '--work-dir',
                                      str(tmp_path / 'work')])
    with pytest.raises(SystemExit) as info:
        train.main()
    assert "Did you mean 'DBSCAN'" in str(info.value.code)
    assert not (tmp_path / 'work').exists()  # nothing was built
