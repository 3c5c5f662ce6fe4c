import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import init_default_scope

from reidkit.registry import CLUSTERERS, DATASETS, HOOKS, METRICS, MODELS
from reidkit.structures import ReIDDataSample

DATA = osp.join(osp.dirname(__file__), 'data')


def test_registries_are_children_of_mmengine():
    assert MODELS.parent is MMENGINE_MODELS
    assert MODELS.scope == 'reidkit' and HOOKS.scope == 'reidkit'
    assert CLUSTERERS.parent is None and CLUSTERERS.scope == 'reidkit'
    # lazy locations: names resolve without importing reidkit.models first
    assert MODELS.get('SupervisedReID') is not None
    assert DATASETS.get('Market1501') is not None
    assert METRICS.get('ReIDMetric') is not None
    # mmengine's own components are reachable through the parent
    assert MODELS.get('ExponentialMovingAverage') is not None


def test_user_components_from_a_config(monkeypatch):
    monkeypatch.syspath_prepend(osp.join(DATA, 'custom_plugins'))
    cfg = Config.fromfile(osp.join(DATA, 'configs', 'custom_components.py'))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'TinyConvNet'
    assert type(model.head.loss_triplet).__name__ == 'CenterPullLoss'

    samples = []
    for i, label in enumerate([0, 0, 1, 1, 2, 2, 3, 3]):
        s = ReIDDataSample()
        s.set_metainfo(dict(sample_idx=i))
        s.gt_pid = s.gt_label = label
        samples.append(s)
    data = dict(inputs=list(torch.randint(0, 255, (8, 3, 32, 16),
                                          dtype=torch.uint8)),
                data_samples=samples)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(data, optim)
    assert 'loss_triplet' in log_vars  # the user's loss ran

    clusterer = CLUSTERERS.build(cfg.clusterer)
    feats = np.array([[1, 0], [0.99, 0.01], [0, 1], [0.02, 1], [1, 1]],
                     dtype=np.float32)
    labels = clusterer.fit_predict(feats)
    assert labels.tolist() == [0, 0, 1, 1, -1]


@pytest.mark.slow
def test_user_memory_and_hook_in_a_runner(tmp_path, monkeypatch,
                                          synthetic_tiny_root):
    """A user's memory and hook, from a config, in a Cluster Contrast run
    on the tiny set (docs/custom_components.md)."""
    from mmengine.runner import Runner

    from reidkit.apis import prepare_config
    from tests.conftest import tiny_loader_options
    monkeypatch.syspath_prepend(osp.join(DATA, 'custom_plugins'))
    cfg = Config.fromfile(osp.join(
        osp.dirname(osp.dirname(DATA)), 'configs', 'cluster_contrast',
        'cc_r18_synthetic.py'))
    cfg.custom_imports = dict(imports=['my_reid_plugins'],
                              allow_failed_imports=False)
    cfg.model.memory = dict(type='CentroidMemory', margin=0.1)
    cfg.custom_hooks.append(dict(type='LabelChurnHook'))
    cfg.merge_from_dict(dict(
        {'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 100,
         'train_dataloader.sampler.iters_per_epoch': 1,
         'train_dataloader.batch_size': 8,
         'custom_hooks.0.progress': False},
        **tiny_loader_options(osp.dirname(osp.dirname(synthetic_tiny_root)))))
    cfg.custom_hooks[0]['clusterer'] = dict(
        type='KMeans', num_clusters=5, backend='sklearn', seed=0)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(prepare_config(cfg))
    runner.train()
    assert type(runner.model.memory).__name__ == 'CentroidMemory'
    assert runner.model.memory.num_clusters == 5
    churn = next(h for h in runner.hooks
                 if type(h).__name__ == 'LabelChurnHook')
    assert len(churn.history) == 2
    assert all(-1 <= a <= 1 for a in churn.history)
