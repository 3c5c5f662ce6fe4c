"""tools/analysis/visualize_ranks.py on hand-made dumps and a real one."""
import importlib.util
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.evaluation import evaluate_rank
from reidkit.visualization import (MATCH_COLOR, MISMATCH_COLOR,
                                   rank_list_layout)
from tests.conftest import tiny_loader_options

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
ANALYSIS = osp.join(ROOT, 'tools', 'analysis')
TOOLS = osp.join(ROOT, 'tools')


def load_tool(path, name):
    """Import a tool script under a unique module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool(osp.join(ANALYSIS, 'visualize_ranks.py'),
                     'reidkit_tool_visualize_ranks')


def border_pixel(img, box):
    x0, y0, x1, _ = box
    return img.getpixel(((x0 + x1) // 2, y0 + 1))


def write_dump(path, distmat, q_pids, g_pids, q_cams, g_cams, q_paths=None,
               g_paths=None):
    nq, ng = np.shape(distmat)
    np.savez(
        path,
        distmat=np.asarray(distmat, np.float32),
        query_img_paths=np.array(q_paths or [f'q{i}.jpg' for i in range(nq)]),
        gallery_img_paths=np.array(g_paths
                                   or [f'g{i}.jpg' for i in range(ng)]),
        q_pids=np.asarray(q_pids, np.int64),
        g_pids=np.asarray(g_pids, np.int64),
        q_camids=np.asarray(q_cams, np.int64),
        g_camids=np.asarray(g_cams, np.int64),
        protocol=np.array('standard'))
    return str(path)


@pytest.fixture
def hand_dump(tmp_path):
    """Queries with AP 1, 1/2, 1/3 and one without a true match."""
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir()
    q_paths, g_paths = [], []
    for i in range(4):
        q_paths.append(str(img_dir / f'query{i}.png'))
        Image.new('RGB', (32, 64), (40 * i, 0, 0)).save(q_paths[-1])
    for i in range(6):
        g_paths.append(str(img_dir / f'gal{i}.png'))
        Image.new('RGB', (32, 64), (0, 40 * i, 0)).save(g_paths[-1])
    g_pids = [1, 2, 3, 5, 6, 1]
    g_cams = [1, 1, 1, 1, 1, 0]
    distmat = [
        [0.1, 0.5, 0.6, 0.7, 0.8, 0.0],  # g5: same pid and camera (junk)
        [0.3, 0.2, 0.6, 0.1, 0.8, 0.9],  # match at rank 2
        [0.9, 0.8, 0.3, 0.1, 0.2, 0.7],  # match at rank 3
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # pid 9: no match
    ]
    return write_dump(tmp_path / 'dump.npz', distmat, [1, 2, 3, 9], g_pids,
                      [0, 0, 0, 0], g_cams, q_paths, g_paths)


def test_rank_dump_aps(tool, hand_dump):
    result = tool.rank_dump(tool.load_dump(hand_dump), topk=3)
    aps = [q.ap for q in result.queries]
    assert aps[:3] == pytest.approx([1, 1 / 2, 1 / 3]) and aps[3] is None
    assert 5 not in result.queries[0].gallery_indices.tolist()


def test_select_queries(tool):
    aps = [0.5, None, 0.9, 0.1, 0.5]
    assert tool.select_queries(aps, 'best', 3) == [2, 0, 4]
    assert tool.select_queries(aps, 'worst', 2) == [3, 0]
    assert tool.select_queries(aps, 'worst', 10) == [3, 0, 4, 2]
    picked = tool.select_queries(aps, 'random', 3, seed=1)
    assert picked == tool.select_queries(aps, 'random', 3, seed=1)
    assert len(set(picked)) == 3 and 1 not in picked
    with pytest.raises(ValueError, match='no query has an AP'):
        tool.select_queries([None], 'best', 1)


def test_main_worst(tool, hand_dump, tmp_path, capsys):
    out = tmp_path / 'worst'
    result, chosen = tool.main([hand_dump, '--mode', 'worst', '--num', '2',
                                '--topk', '3', '--out', str(out)])
    assert chosen == [2, 1]
    printed = capsys.readouterr().out
    assert '3 of 4 queries have a true match' in printed
    assert 'AP  33.33%' in printed and 'query2.png' in printed
    assert sorted(os.listdir(out)) == ['1_query2.png', '2_query1.png',
                                       'index.html']
    img = Image.open(out / '1_query2.png').convert('RGB')
    boxes = rank_list_layout(3, title=True)['gallery_boxes']
    assert [border_pixel(img, b) for b in boxes] == [
        MISMATCH_COLOR, MISMATCH_COLOR, MATCH_COLOR]
    page = (out / 'index.html').read_text()
    assert page.index('1_query2.png') < page.index('2_query1.png')
    assert '33.3%' in page


def test_main_best_via_argv(tool, hand_dump, tmp_path, monkeypatch,
                            capsys):
    out = tmp_path / 'best'
    monkeypatch.setattr(sys, 'argv', [
        'visualize_ranks.py', hand_dump, '--mode', 'best', '--num', '1',
        '--out', str(out)
    ])
    _, chosen = tool.main()
    assert chosen == [0]
    img = Image.open(out / '1_query0.png').convert('RGB')
    # top-10 of a 6-image gallery, minus the junk one
    boxes = rank_list_layout(5, title=True)['gallery_boxes']
    assert border_pixel(img, boxes[0]) == MATCH_COLOR
    assert img.size[1] == rank_list_layout(5, title=True)['size'][1]
    assert 'AP 100.00%' in capsys.readouterr().out.replace('  ', ' ')


def test_mean_ap_equals_evaluate_rank(tool, tmp_path):
    rng = np.random.default_rng(0)
    dist = rng.integers(0, 5, size=(30, 50)).astype(np.float32)  # ties
    q_pids, g_pids = rng.integers(0, 6, 30), rng.integers(0, 6, 50)
    q_cams, g_cams = rng.integers(0, 3, 30), rng.integers(0, 3, 50)
    for cams in ((q_cams, g_cams), (q_cams, np.full(50, -1))):
        path = write_dump(tmp_path / 'r.npz', dist, q_pids, g_pids, *cams)
        result = tool.rank_dump(tool.load_dump(path))
        aps = [q.ap for q in result.queries if q.ap is not None]
        use_cams = (cams[1] >= 0).all()
        ref = evaluate_rank(dist, q_pids, g_pids,
                            *(cams if use_cams else (None, None)))
        assert np.mean(aps) == pytest.approx(ref['mAP'], abs=1e-12)
        assert len(aps) == ref['num_valid_queries']


def test_errors(tool, tmp_path):
    with pytest.raises(SystemExit, match='tools/test.py'):
        tool.main([str(tmp_path / 'none.npz'), '--out', str(tmp_path)])
    bad = tmp_path / 'bad.npz'
    np.savez(bad, distmat=np.zeros((1, 1)))
    with pytest.raises(SystemExit, match='lacks'):
        tool.main([str(bad), '--out', str(tmp_path / 'o')])
    no_match = write_dump(tmp_path / 'n.npz', [[0.1]], [1], [2], [0], [1])
    with pytest.raises(SystemExit, match='true match'):
        tool.main([no_match, '--out', str(tmp_path / 'o')])


@pytest.mark.slow
def test_test_dump_then_visualize(tool, synthetic_tiny_root, tmp_path,
                                  monkeypatch, capsys):
    """tools/test.py --dump on the tiny set, then visualize_ranks on it."""
    from mmengine.config import Config

    from reidkit.apis.inference import init_model
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py'))
    cfg.merge_from_dict(tiny_loader_options(
        cache, loaders=('val_dataloader', 'test_dataloader')))
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_model(cfg_path)
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    dump = str(tmp_path / 'dump' / 'test.npz')
    test_tool = load_tool(osp.join(TOOLS, 'test.py'), 'reidkit_tool_test')
    monkeypatch.setattr(sys, 'argv', [
        'test.py', cfg_path, ckpt, '--dump', dump, '--work-dir',
        str(tmp_path / 'work')
    ])
    test_tool.main()
    printed = capsys.readouterr().out
    assert f'written to {dump}' in printed
    m = re.search(r'\| standard \| ([\d.]+) \|', printed)
    with np.load(dump) as npz:
        d = dict(npz)
    assert d['distmat'].shape == (len(d['q_pids']), len(d['g_pids']))
    assert all(osp.isfile(p) for p in d['query_img_paths'])
    qf, gf = d['query_feats'], d['gallery_feats']
    recomputed = ((qf[:, None] - gf[None])**2).sum(-1)
    assert np.allclose(d['distmat'], recomputed, atol=1e-4)
    # the features are the model's: re-extract two query images
    from reidkit.apis.inference import extract_features
    feats = extract_features(model, list(d['query_img_paths'][:2]))
    assert np.allclose(feats.numpy(), qf[:2], atol=1e-4)

    out = tmp_path / 'vis'
    result, chosen = tool.main([dump, '--mode', 'random', '--num', '3',
                                '--topk', '4', '--out', str(out)])
    assert len(chosen) == 3
    assert len([f for f in os.listdir(out) if f.endswith('.png')]) == 3
    ref = evaluate_rank(d['distmat'], d['q_pids'], d['g_pids'],
                        d['q_camids'], d['g_camids'])
    assert result.mAP == pytest.approx(ref['mAP'], abs=1e-9)
    assert m, printed  # the test table's mAP (1 decimal) agrees too
    assert 100 * result.mAP == pytest.approx(float(m.group(1)), abs=0.051)


def test_test_tool_sets_dump_file(tmp_path):
    from mmengine.config import Config
    test_tool = load_tool(osp.join(TOOLS, 'test.py'), 'reidkit_tool_test')
    cfg = Config(dict(test_evaluator=dict(type='ReIDMetric')))
    assert test_tool.set_dump_file(cfg, 'a/d.npz') == ['a/d.npz']
    assert cfg.test_evaluator.save_file == 'a/d.npz'
    cfg = Config(dict(test_evaluator=[
        dict(type='ReIDMetric', feature_key='pred_feature_t1'),
        dict(type='Other'),
        dict(type='ReIDMetric', feature_key='pred_feature_t2')
    ]))
    assert test_tool.set_dump_file(cfg, 'd.npz') == ['d_0.npz', 'd_1.npz']
    assert cfg.test_evaluator[2].save_file == 'd_1.npz'
    assert 'save_file' not in cfg.test_evaluator[1]
    with pytest.raises(SystemExit, match='ending in .npz'):
        test_tool.set_dump_file(cfg, 'd.pkl')
    with pytest.raises(SystemExit, match='needs a ReIDMetric'):
        test_tool.set_dump_file(Config(dict(test_evaluator=dict(
            type='Other'))), 'd.npz')
