"""Parsing mmengine scalars.json files and plotting training curves."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from reidkit.visualization.curves import (find_scalars_file, load_scalars,
                                          parse_scalars, plot_curves,
                                          run_name)

# A 2-epoch run as mmengine writes it: pseudo labels before each epoch
# (step = runner.epoch), training lines every 2 of 4 iterations per epoch,
# validation after epoch 2.
LINES = [
    {'pseudo_label/num_clusters': 10, 'pseudo_label/num_outliers': 7,
     'pseudo_label/nmi': 0.5, 'pseudo_label/ari': 0.1, 'step': 0},
    {'lr': 0.1, 'loss': 4.0, 'loss_cc': 4.0, 'time': 1.0, 'epoch': 1,
     'iter': 2, 'step': 2},
    {'lr': 0.1, 'loss': 2.0, 'loss_cc': 2.0, 'time': 3.0, 'epoch': 1,
     'iter': 4, 'step': 4},
    {'pseudo_label/num_clusters': 12, 'pseudo_label/num_outliers': 3,
     'pseudo_label/nmi': 0.7, 'pseudo_label/ari': 0.3, 'step': 1},
    {'lr': 0.01, 'loss': 1.5, 'loss_cc': 1.5, 'time': 1.0, 'epoch': 2,
     'iter': 6, 'step': 6},
    {'lr': 0.01, 'loss': 0.5, 'loss_cc': 0.5, 'time': 1.0, 'epoch': 2,
     'iter': 8, 'step': 8},
    {'reid/mAP': 30.0, 'reid/rank1': 40.0, 'data_time': 0.2, 'time': 0.5,
     'step': 2},
]


def write_run(work_dir, lines=LINES, timestamp='20240101_000000'):
    vis = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(vis, exist_ok=True)
    path = osp.join(vis, 'scalars.json')
    with open(path, 'w') as f:
        for line in lines:
            f.write(json.dumps(line) + '\n')
    return path


def test_parse_scalars_known_values(tmp_path):
    path = write_run(str(tmp_path / 'run'))
    series = parse_scalars(path)
    # training keys: mean per epoch, at the epoch
    np.testing.assert_allclose(series['loss']['x'], [1, 2])
    np.testing.assert_allclose(series['loss']['y'], [3.0, 1.0])
    np.testing.assert_array_equal(series['loss']['n'], [2, 2])
    np.testing.assert_allclose(series['lr']['y'], [0.1, 0.01])
    np.testing.assert_allclose(series['time']['y'], [2.0, 1.0])
    # pseudo labels: at the epoch that trains on them (step + 1)
    np.testing.assert_allclose(series['pseudo_label/num_clusters']['x'],
                               [1, 2])
    np.testing.assert_allclose(series['pseudo_label/num_clusters']['y'],
                               [10, 12])
    np.testing.assert_allclose(series['pseudo_label/ari']['y'], [0.1, 0.3])
    # validation: at its step; its own time is renamed
    np.testing.assert_allclose(series['reid/mAP']['x'], [2])
    np.testing.assert_allclose(series['reid/mAP']['y'], [30.0])
    np.testing.assert_allclose(series['val/time']['y'], [0.5])
    assert 'step' not in series and 'epoch' not in series
    # the work dir and the loaded lines give the same
    by_dir = parse_scalars(str(tmp_path / 'run'))
    by_lines = parse_scalars(load_scalars(path))
    for key in series:
        np.testing.assert_allclose(by_dir[key]['y'], series[key]['y'])
        np.testing.assert_allclose(by_lines[key]['x'], series[key]['x'])


def test_parse_scalars_other_and_repeated_lines():
    lines = [
        {'gds/loss/overlap': 0.4, 'step': 1},
        {'gds/loss/overlap': 0.3, 'step': 2},
        {'gds/loss/overlap': 0.2, 'step': 2},  # repeated: later wins
        {'note': 'text', 'flag': True, 'step': 3},  # not numbers: skipped
    ]
    series = parse_scalars(lines)
    assert list(series) == ['gds/loss/overlap']
    np.testing.assert_allclose(series['gds/loss/overlap']['x'], [1, 2])
    np.testing.assert_allclose(series['gds/loss/overlap']['y'], [0.4, 0.2])


def test_find_scalars_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='neither'):
        find_scalars_file(str(tmp_path / 'missing'))
    with pytest.raises(FileNotFoundError, match='No .*scalars.json'):
        find_scalars_file(str(tmp_path))
    train = write_run(str(tmp_path), timestamp='20240101_000000')
    later = write_run(str(tmp_path), timestamp='20240102_000000')
    assert find_scalars_file(str(tmp_path)) == later
    # a later test-only run (no training lines) is passed over
    write_run(str(tmp_path), [{'reid/mAP': 1.0, 'step': 0}],
              timestamp='20240103_000000')
    assert find_scalars_file(str(tmp_path)) == later
    assert find_scalars_file(train) == train
    assert run_name(train) == osp.basename(str(tmp_path))
    assert run_name(str(tmp_path) + os.sep) == osp.basename(str(tmp_path))


def test_load_scalars_bad_line(tmp_path):
    path = tmp_path / 'scalars.json'
    path.write_text('{"loss": 1, "step": 1}\n\nnot json\n')
    with pytest.raises(ValueError, match='line 3, is not JSON'):
        load_scalars(str(path))


def test_plot_curves_png(tmp_path):
    series = parse_scalars(write_run(str(tmp_path / 'a')))
    partial = parse_scalars(LINES[1:3])  # loss only
    out = str(tmp_path / 'sub' / 'curves.png')
    skipped = plot_curves([('a', series), ('b', partial)], out,
                          title='two runs')
    assert skipped == []
    with Image.open(out) as img:
        assert img.format == 'PNG'
        # 2 x 2 panels of 4 x 3 in, + 0.3 in title, + 0.25 in runs legend
        assert img.size == (800, 655)

    out = str(tmp_path / 'loss.png')
    skipped = plot_curves([('b', partial)], out, dpi=50)
    assert skipped == ['Validation', 'Pseudo labels trained on',
                       'Pseudo-label quality']
    with Image.open(out) as img:
        assert img.size == (200, 150)  # one panel

    with pytest.raises(ValueError, match='the runs have: .*loss'):
        plot_curves([('b', partial)], out,
                    panels=[('x', '', ('reid/mAP', ))])
