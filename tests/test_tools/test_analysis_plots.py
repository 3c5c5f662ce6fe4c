"""tools/analysis/embedding_plot.py and plot_curves.py command lines."""
import importlib.util
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from reidkit.registry import DATASETS, MODELS
from reidkit.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')
ANALYSIS = osp.join(ROOT, 'tools', 'analysis')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'reidkit_tool_{name}', osp.join(ANALYSIS, f'{name}.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def png_size(path):
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size


# ----------------------------------------------------------- plot_curves
def write_run(work_dir):
    lines = [
        {'pseudo_label/num_clusters': 9, 'pseudo_label/nmi': 0.5, 'step': 0},
        {'loss': 3.0, 'lr': 0.1, 'epoch': 1, 'iter': 1, 'step': 1},
        {'loss': 1.0, 'lr': 0.1, 'epoch': 1, 'iter': 2, 'step': 2},
        {'reid/mAP': 12.5, 'reid/rank1': 20.0, 'step': 1},
    ]
    vis = osp.join(work_dir, '20240101_000000', 'vis_data')
    os.makedirs(vis)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        f.write('\n'.join(json.dumps(x) for x in lines) + '\n')
    return osp.join(vis, 'scalars.json')


def test_plot_curves_cli(tmp_path, capsys):
    tool = load_tool('plot_curves')
    run_a, run_b = str(tmp_path / 'run_a'), str(tmp_path / 'run_b')
    write_run(run_a)
    scalars_b = write_run(run_b)
    out = str(tmp_path / 'curves.png')
    tool.main([run_a, scalars_b, '--out', out])
    text = capsys.readouterr().out
    assert f'Wrote {out}' in text and 'Note' not in text
    assert png_size(out) == (800, 625)  # 2 x 2 panels + the runs' legend

    tool.main([run_a, '--keys', 'reid/mAP,reid/rank1', 'lr', 'gds/x',
               '--out', out])
    text = capsys.readouterr().out
    assert 'Note: no run has gds/x; left out the panel "x".' in text
    assert png_size(out) == (800, 300)

    tool.main([run_a, '--list-keys'])
    text = capsys.readouterr().out
    assert 'loss: 1 points, epochs 1-1' in text
    assert 'pseudo_label/num_clusters' in text

    with pytest.raises(FileNotFoundError, match='No .*scalars.json'):
        tool.main([str(tmp_path), '--out', out])
    with pytest.raises(SystemExit):
        tool.main([run_a, run_b, '--names', 'one', '--out', out])
    assert 'one per run' in capsys.readouterr().err


# -------------------------------------------------------- embedding_plot
def test_embedding_plot_argument_errors(capsys, monkeypatch):
    tool = load_tool('embedding_plot')
    with pytest.raises(SystemExit):
        tool.main([CONFIG, 'x.pth', '--split', 'test', '--color', 'pseudo',
                   '--out', 'x.png'])
    assert 'train split only; use --split train' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(['--out', 'x.png'])
    assert 'give a CONFIG' in capsys.readouterr().err
    # no umap-learn: fails before building the model or the data
    monkeypatch.setitem(sys.modules, 'umap', None)
    monkeypatch.setattr(tool, '_from_model', None)
    with pytest.raises(ImportError, match='pip install umap-learn'):
        tool.main([CONFIG, '--method', 'umap', '--out', 'x.png'])


def test_embedding_plot_from_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gt = np.repeat(np.arange(8), 5)
    pseudo = gt.copy()
    pseudo[::6] = -1
    feats = 4 * rng.normal(size=(8, 12))[gt] + rng.normal(size=(40, 12))
    npz = str(tmp_path / 'f.npz')
    np.savez(npz, features=feats, gt_pids=gt, camids=gt % 3,
             pseudo_labels=pseudo, split='train', source='epoch_3.pth')
    tool = load_tool('embedding_plot')
    out = str(tmp_path / 'pseudo.png')
    tool.main(['--features', npz, '--color', 'pseudo', '--max-ids', '4',
               '--perplexity', '5', '--out', out])
    # clusters 0-3: 16 of the 33 clustered points, and round(16 / 33 * 7)
    # of the 7 outliers
    assert '19 points, 4 clusters, 3 outliers' in capsys.readouterr().out
    assert png_size(out) == (600, 500)
    out = str(tmp_path / 'cam.png')
    tool.main(['--features', npz, '--color', 'camera', '--max-ids', '0',
               '--perplexity', '5', '--out', out, '--dpi', '50'])
    assert '40 points, 8 identities' in capsys.readouterr().out
    assert png_size(out) == (300, 250)
    np.savez(npz, features=feats)
    with pytest.raises(KeyError, match='needs "gt_pids"'):
        tool.main(['--features', npz, '--out', out])


@pytest.mark.slow
def test_embedding_plot_model(tmp_path, synthetic_tiny_root, capsys):
    """Random-init and 'trained' (pseudo labels set) models on tiny data."""
    tool = load_tool('embedding_plot')
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    opts = ['--cfg-options']
    for loader in ('train_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.size=tiny',
                 f'{loader}.dataset.cache_root={cache}']
    out = str(tmp_path / 'init.png')
    npz = str(tmp_path / 'init.npz')
    tool.main([CONFIG, '--out', out, '--max-ids', '5', '--save-features',
               npz] + opts)
    assert 'Wrote' in capsys.readouterr().out
    assert png_size(out) == (600, 500)
    with np.load(npz) as saved:
        assert str(saved['split']) == 'test'
        assert str(saved['source']) == 'initial weights'
        assert len(np.unique(saved['gt_pids'])) == 5
        assert 0 not in saved['gt_pids']  # no distractors: not in query
        assert saved['features'].shape == (len(saved['gt_pids']), 512)
        np.testing.assert_allclose(
            np.linalg.norm(saved['features'], axis=1), 1, atol=1e-5)

    # no pseudo labels in a random model
    with pytest.raises(ValueError, match='holds no pseudo labels'):
        tool.main([CONFIG, '--split', 'train', '--color', 'pseudo',
                   '--out', out] + opts)

    # a checkpoint whose pseudo labels cover the tiny train set
    register_all_modules(init_default_scope=False)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    train = DATASETS.build(dict(type='SyntheticReID', size='tiny',
                                cache_root=cache, split='train'))
    gt = np.array([train.get_data_info(i)['gt_pid']
                   for i in range(len(train))])
    labels = np.unique(gt, return_inverse=True)[1]
    labels[::4] = -1
    model.pseudo_labels = torch.as_tensor(labels)
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'pseudo.png')
    tool.main([CONFIG, ckpt, '--split', 'train', '--color', 'pseudo',
               '--max-ids', '6', '--out', out] + opts)
    assert '6 clusters' in capsys.readouterr().out
    assert png_size(out) == (600, 500)

    model.pseudo_labels = torch.as_tensor(labels[:-1])
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    with pytest.raises(ValueError, match='pseudo labels but the config'):
        tool.main([CONFIG, ckpt, '--split', 'train', '--color', 'pseudo',
                   '--out', out] + opts)
