"""SIGKILL at any point of a run loses at most the current epoch.

A tiny Cluster Contrast + GDS-H run (``tools/train.py`` in a subprocess,
keeping only the last checkpoint) is killed by a plugin hook in the middle
of an iteration, half-way through writing a checkpoint file, or during
the validation after a checkpoint; ``tools/train.py --resume`` then
finishes it. Every resumed run must end exactly where an uninterrupted run
ends (last checkpoint and every logged value). With mmengine's own
CheckpointHook, which deletes the old checkpoint before writing the new
one, the kill while saving leaves no usable checkpoint at all.
"""
import os
import os.path as osp

import pytest
import torch

from tests.test_apis.test_full_resume import (EPOCHS, _assert_same, _finish,
                                              _launch, _scalars, gds_cfg)

PLUGINS = osp.join(osp.dirname(osp.dirname(__file__)), 'data',
                   'custom_plugins')

pytestmark = pytest.mark.slow


def _cfg(cache, kill=None, checkpoint_type='CheckpointHook'):
    cfg = gds_cfg(cache)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    cfg.default_hooks.checkpoint.type = checkpoint_type
    if kill is not None:
        cfg.custom_imports = dict(imports=['crash_plugins'],
                                  allow_failed_imports=False)
        cfg.custom_hooks.append(dict(type='SigkillHook', point=kill,
                                     epoch=2))
    return cfg


def _dump(cfg, path):
    cfg.dump(str(path))
    return str(path)


def _wait_killed(proc):
    proc.wait(600)
    proc.log_file.close()
    with open(proc.log_file.name, errors='replace') as f:
        out = f.read()
    assert proc.returncode == -9, out[-3000:]


def test_sigkill_anywhere_loses_at_most_the_current_epoch(
        tmp_path, synthetic_tiny_root, monkeypatch):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    monkeypatch.setenv('PYTHONPATH', PLUGINS + os.pathsep +
                       os.environ.get('PYTHONPATH', ''))
    clean = _dump(_cfg(cache), tmp_path / 'clean.py')
    points = {'iteration': 1, 'saving': 1, 'validation': 2}
    runs = {'full': _launch(clean, str(tmp_path / 'full'))}
    for point in points:
        path = _dump(_cfg(cache, point), tmp_path / f'{point}.py')
        runs[point] = _launch(path, str(tmp_path / point))
    mmengine_cfg = _dump(
        _cfg(cache, 'saving', checkpoint_type='mmengine.CheckpointHook'),
        tmp_path / 'mmengine.py')
    runs['mmengine'] = _launch(mmengine_cfg, str(tmp_path / 'mmengine'))

    for point, resumes_from in points.items():
        work = tmp_path / point
        _wait_killed(runs[point])
        files = sorted(os.listdir(work))
        assert f'epoch_{resumes_from}.pth' in files, files
        if point == 'saving':  # the half-written file is a temporary one
            assert 'epoch_2.pth' not in files
            assert 'epoch_2.pth.tmp' in files
        assert open(work / 'last_checkpoint').read().endswith(
            f'epoch_{resumes_from}.pth')
        torch.load(str(work / f'epoch_{resumes_from}.pth'),
                   map_location='cpu')  # complete and loadable
        runs[point] = _launch(clean, str(work), resume=True)

    # mmengine's hook: the only checkpoint was deleted before the new one
    # was half written, so there is nothing to resume from.
    _wait_killed(runs['mmengine'])
    work = tmp_path / 'mmengine'
    assert not osp.exists(work / 'epoch_1.pth')
    with pytest.raises(Exception):
        torch.load(str(work / 'epoch_2.pth'), map_location='cpu')

    _finish(runs['full'], 'the uninterrupted run')
    expected = torch.load(str(tmp_path / 'full' / f'epoch_{EPOCHS}.pth'),
                          map_location='cpu')
    expected_scalars = _scalars(str(tmp_path / 'full'))
    for point, resumes_from in points.items():
        work = tmp_path / point
        _finish(runs[point], f'the run resumed after a kill at {point}')
        with open(runs[point].log_file.name) as f:
            assert (f'resumed epoch: {resumes_from}, iter: '
                    f'{2 * resumes_from}') in f.read()
        got = torch.load(str(work / f'epoch_{EPOCHS}.pth'),
                         map_location='cpu')
        for key in ('state_dict', 'optimizer', 'param_schedulers'):
            _assert_same(expected[key], got[key], f'{point}: {key}')
        assert _scalars(str(work)) == expected_scalars, point
        assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) \
            == [f'epoch_{EPOCHS}.pth']
