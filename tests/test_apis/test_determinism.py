"""Same seed, same result: two runs of the tiny Cluster Contrast config
with ``randomness=dict(seed=..., deterministic=True)`` give identical
pseudo labels at every epoch, identical weights and identical metrics."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from reidkit.apis import prepare_config
from tests.conftest import tiny_loader_options
from tests.test_apis.test_full_resume import (_assert_same, _finish, _launch,
                                              _scalars)

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')
EPOCHS = 3

pytestmark = pytest.mark.slow


def test_same_seed_same_run(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': EPOCHS,
        'train_cfg.val_interval': 1,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 8,
        'default_hooks.checkpoint.max_keep_ckpts': EPOCHS,
        'custom_hooks.0.progress': False,
        # the config's DBSCAN, with k1 for the tiny set's 102 train images
        'custom_hooks.0.clusterer.k1': 20,
        'randomness': dict(seed=7, deterministic=True),
    }
    opts.update(tiny_loader_options(cache))
    # one data worker, started anew every epoch (seeded per epoch)
    opts['train_dataloader.num_workers'] = 1
    cfg.merge_from_dict(opts)
    path = str(tmp_path / 'cfg.py')
    prepare_config(cfg).dump(path)
    runs = [_launch(path, str(tmp_path / f'run{i}')) for i in (1, 2)]
    for i, run in enumerate(runs, 1):
        _finish(run, f'run {i}')
    labels = []
    for epoch in range(1, EPOCHS + 1):
        a, b = (torch.load(str(tmp_path / f'run{i}' / f'epoch_{epoch}.pth'),
                           map_location='cpu') for i in (1, 2))
        _assert_same(a['state_dict'], b['state_dict'], f'epoch {epoch}')
        labels.append(a['state_dict']['pseudo_labels'])
    # the pseudo labels changed over the epochs (the runs did something)
    assert not all(torch.equal(labels[0], x) for x in labels[1:])
    one, two = (_scalars(str(tmp_path / f'run{i}')) for i in (1, 2))
    assert one == two
    steps = sorted(s for k, s in one if k == 'pseudo_label/num_clusters')
    assert steps == list(range(EPOCHS))
    assert sorted(s for k, s in one if k == 'reid/mAP') == [1, 2, 3]
