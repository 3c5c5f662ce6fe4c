"""Retrieval API and tools/retrieve.py on hand-made cases and tiny data."""
import importlib.util
import os
import os.path as osp
import re
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.apis.inference import init_model
from reidkit.apis.retrieval import (average_precision, parse_ids,
                                    rank_distmat, resolve_ids, retrieve)
from reidkit.evaluation import evaluate_rank
from reidkit.visualization import (MATCH_COLOR, MISMATCH_COLOR,
                                   NEUTRAL_COLOR, rank_list_layout)

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')
TOOLS = osp.join(ROOT, 'tools')


def border_pixel(img, box):
    x0, y0, x1, _ = box
    return img.getpixel(((x0 + x1) // 2, y0 + 1))


# ------------------------------------------------------------- identities
def test_parse_ids():
    names = ['a/0017_c2s1_389336_01.jpg', '-1_c3s2_000207_03.jpg']
    assert parse_ids(names, r'^(-?\d+)_c').tolist() == [17, -1]
    assert parse_ids(names, r'_c(\d+)', 'camid').tolist() == [2, 3]
    # searched in the base name, not the folder
    assert parse_ids(['0042_c1/x.jpg'], r'^(\d+)', strict=False) is None
    with pytest.raises(ValueError, match='does not match'):
        parse_ids(names + ['cat.jpg'], r'^(-?\d+)_c')
    with pytest.raises(ValueError, match='not an integer'):
        parse_ids(['ab_c1.jpg'], r'^(\w+)_c')
    with pytest.raises(ValueError, match='no group'):
        parse_ids(names, r'^\d+')
    with pytest.raises(ValueError, match='not a valid regular expression'):
        parse_ids(names, r'^(\d+')


def test_resolve_ids():
    q = ['0001_c1s1_0_01.jpg', '0002_c2s1_0_01.jpg']
    g = ['0001_c2s1_0_01.jpg', '-1_c1s1_0_01.jpg', '0000_c3s1_0_01.jpg']
    q_pids, g_pids, q_cams, g_cams, source = resolve_ids(q, g)
    assert q_pids.tolist() == [1, 2] and g_pids.tolist() == [1, -1, 0]
    assert q_cams.tolist() == [1, 2] and g_cams.tolist() == [2, 1, 3]
    assert 'Market-1501' in source
    # one name that is not Market style: ids unknown
    assert resolve_ids(q, g + ['cat.jpg'])[:4] == (None, ) * 4
    # custom patterns; cameras only when asked for
    q2, g2 = ['p5-cam1.png'], ['p5-cam2.png', 'p7-cam1.png']
    q_pids, g_pids, q_cams, g_cams, source = resolve_ids(
        q2, g2, pid_pattern=r'^p(\d+)')
    assert g_pids.tolist() == [5, 7] and q_cams is None
    assert 'cameras unknown' in source
    res = resolve_ids(q2, g2, r'^p(\d+)', r'cam(\d+)')
    assert res[3].tolist() == [2, 1]
    with pytest.raises(ValueError, match='--pid-pattern'):
        resolve_ids(q2, g2, camid_pattern=r'cam(\d+)')
    with pytest.raises(ValueError, match='p5-cam1.png'):
        resolve_ids(q2, g2, pid_pattern=r'^q(\d+)')


# -------------------------------------------------------------- AP, ranks
def test_average_precision_with_ties():
    # matches at ranks 1 and 3: AP = (1/1 + 2/3) / 2
    d = np.array([0.1, 0.2, 0.3, 0.4])
    m = np.array([True, False, True, False])
    assert average_precision(d, m) == pytest.approx((1 + 2 / 3) / 2)
    # the non-match tied with the first match: precision 1/2 at d=0.1
    d = np.array([0.1, 0.1, 0.3])
    m = np.array([True, False, True])
    assert average_precision(d, m) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # junk is ignored
    valid = np.array([True, False, True])
    assert average_precision(d, m, valid) == pytest.approx(1.0)
    assert average_precision(d, np.zeros(3, bool)) is None


def test_rank_distmat_hand_made():
    # query 0: pid 1 cam 0; query 1: pid 9 (no match); query 2: pid 2 cam 1
    dist = np.array([[0.0, 0.1, 0.2, 0.3, 0.4],
                     [0.5, 0.1, 0.3, 0.2, 0.0],
                     [0.9, 0.8, 0.1, 0.2, 0.3]], dtype=np.float32)
    g_pids = [1, 2, 1, -1, 2]
    g_cams = [0, 0, 1, 0, 1]
    res = rank_distmat(dist, ['q0.jpg', 'q1.jpg', 'q2.jpg'],
                       [f'g{i}.jpg' for i in range(5)], topk=3,
                       q_pids=[1, 9, 2], g_pids=g_pids, q_camids=[0, 0, 1],
                       g_camids=g_cams, drop_junk_pid=True)
    q0, q1, q2 = res.queries
    # g0 (same pid, same camera) and g3 (pid -1) are removed
    assert q0.gallery_indices.tolist() == [1, 2, 4]
    assert q0.matches.tolist() == [False, True, False]
    assert q0.ap == pytest.approx(0.5) and q0.first_match_rank == 2
    assert q0.rank1_hit is False and q0.num_removed == 2
    assert q1.ap is None and q1.matches.tolist() == [False, False, False]
    assert q1.rank1_hit is None
    # g4 is pid 2 but the same camera: removed; g1 (cam 0) is the match
    assert q2.gallery_indices.tolist() == [2, 1, 0]
    assert q2.ap == pytest.approx(0.5)
    assert res.mAP == pytest.approx(0.5) and res.rank1 == 0.0
    assert len(res.valid_queries) == 2
    # keep same camera: g4 is now a (rank-3) match, g0 comes first for q0
    res = rank_distmat(dist, ['q0', 'q1', 'q2'], [str(i) for i in range(5)],
                       topk=5, q_pids=[1, 9, 2], g_pids=g_pids,
                       q_camids=[0, 0, 1], g_camids=g_cams,
                       remove_same_camera=False)
    assert res.queries[0].gallery_indices.tolist() == [0, 1, 2, 3, 4]
    assert res.queries[0].rank1_hit
    assert res.queries[2].matches.tolist() == [False, False, True, True,
                                               False]
    assert any('KEPT' in s for s in res.protocol)


def test_mean_ap_equals_evaluate_rank():
    rng = np.random.default_rng(0)
    # integer-valued distances: many ties
    dist = rng.integers(0, 6, size=(40, 60)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 8, 40), rng.integers(0, 8, 60)
    q_cams, g_cams = rng.integers(0, 3, 40), rng.integers(0, 3, 60)
    for cams in ((q_cams, g_cams), (None, None)):
        res = rank_distmat(dist, [str(i) for i in range(40)],
                           [str(i) for i in range(60)], topk=5,
                           q_pids=q_pids, g_pids=g_pids, q_camids=cams[0],
                           g_camids=cams[1])
        ref = evaluate_rank(dist, q_pids, g_pids, *cams)
        assert res.mAP == pytest.approx(ref['mAP'], abs=1e-12)
        assert len(res.valid_queries) == ref['num_valid_queries']


def test_rank_distmat_errors():
    with pytest.raises(ValueError, match='rows are queries'):
        rank_distmat(np.zeros((2, 3)), ['a'], ['b', 'c', 'd'])
    with pytest.raises(ValueError, match='both q_pids and g_pids'):
        rank_distmat(np.zeros((1, 1)), ['a'], ['b'], q_pids=[1])
    with pytest.raises(ValueError, match='NaN'):
        rank_distmat(np.full((1, 1), np.nan), ['a'], ['b'])
    with pytest.raises(ValueError, match='topk'):
        rank_distmat(np.zeros((1, 1)), ['a'], ['b'], topk=0)


# ------------------------------------------------------ model, tiny data
@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_model(CONFIG)


@pytest.fixture(scope='module')
def tiny_subset(synthetic_tiny_root, tmp_path_factory):
    """6 queries and 40 gallery images (incl. pid -1) of the tiny set."""
    root = tmp_path_factory.mktemp('retrieval_data')
    query = sorted(os.listdir(osp.join(synthetic_tiny_root, 'query')))[:6]
    qpids = {n.split('_')[0] for n in query}
    gallery = sorted(os.listdir(
        osp.join(synthetic_tiny_root, 'bounding_box_test')))
    chosen = [n for n in gallery if n.split('_')[0] in qpids]
    chosen += [n for n in gallery if n not in chosen][:40 - len(chosen)]
    assert any(n.startswith('-1_') for n in chosen)
    for sub, names in (('query', query), ('bounding_box_test', chosen)):
        os.makedirs(root / sub)
        for n in names:
            shutil.copy(osp.join(synthetic_tiny_root, sub, n), root / sub)
    return str(root)


@pytest.fixture(scope='module')
def retrieved(model, tiny_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp('retrieval_out')
    result = retrieve(model, osp.join(tiny_subset, 'query'),
                      osp.join(tiny_subset, 'bounding_box_test'), topk=5,
                      out_dir=str(out))
    return result, str(out)


def test_retrieve_ranking_is_cosine_argsort(retrieved):
    result, _ = retrieved
    qf = result.query_feats.astype(np.float64)
    gf = result.gallery_feats.astype(np.float64)
    assert np.allclose(np.linalg.norm(qf, axis=1), 1, atol=1e-5)
    dist = 1 - qf @ gf.T  # brute force, float64
    g_pids, g_cams = result.g_pids, result.g_camids
    assert result.ids_known and (g_pids == -1).any()
    for q in result.queries:
        i = q.index
        valid = (g_pids != -1) & ~((g_pids == result.q_pids[i]) &
                                   (g_cams == result.q_camids[i]))
        cand = np.flatnonzero(valid)
        expected = cand[np.argsort(dist[i, cand], kind='stable')][:5]
        # same items up to float32 rounding of near-ties
        assert np.allclose(dist[i, q.gallery_indices], dist[i, expected],
                           atol=1e-5)
        assert valid[q.gallery_indices].all()
        assert np.all(np.diff(q.distances) >= 0)
        assert q.matches.tolist() == (
            g_pids[q.gallery_indices] == result.q_pids[i]).tolist()


def test_retrieve_scores_match_evaluate_rank(retrieved):
    result, _ = retrieved
    keep = result.g_pids != -1  # the data sets drop pid -1 junk
    ref = evaluate_rank(result.distmat[:, keep], result.q_pids,
                        result.g_pids[keep], result.q_camids,
                        result.g_camids[keep])
    assert result.mAP == pytest.approx(ref['mAP'], abs=1e-9)
    assert result.rank1 == pytest.approx(ref['cmc'][0])


def test_retrieve_writes_pngs_and_html(retrieved):
    result, out = retrieved
    files = sorted(os.listdir(out))
    assert files == sorted([osp.splitext(osp.basename(p))[0] + '.png'
                            for p in result.query_paths] + ['index.html'])
    q = result.queries[0]
    img = Image.open(q.image_file).convert('RGB')
    layout = rank_list_layout(5, title=True)
    assert img.size[1] == layout['size'][1]
    for box, match in zip(layout['gallery_boxes'], q.matches):
        assert border_pixel(img, box) == (MATCH_COLOR
                                          if match else MISMATCH_COLOR)
    page = open(osp.join(out, 'index.html'), encoding='utf-8').read()
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == len(result.queries)
    assert all(osp.isfile(osp.join(out, s)) for s in srcs)
    assert 'AP' in page and 'camera are removed' in page
    assert f'{100 * q.ap:.1f}%' in page
    assert 'mAP' in result.summary() and out in result.summary()


def test_retrieve_unknown_ids_and_single_query(model, tiny_subset, tmp_path):
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    src = osp.join(tiny_subset, 'bounding_box_test')
    for n, name in enumerate(sorted(os.listdir(src))[:6]):
        shutil.copy(osp.join(src, name), gallery / f'person{n}.jpg')
    query = str(gallery / 'person0.jpg')  # also in the gallery
    result = retrieve(model, query, str(gallery), topk=10,
                      out_dir=str(tmp_path / 'out'))
    assert not result.ids_known and result.mAP is None
    q = result.queries[0]
    assert q.matches is None and q.ap is None
    # its own file is left out; the list is cut to the 5 others
    assert len(q.gallery_indices) == 5
    assert 0 not in q.gallery_indices.tolist()
    img = Image.open(tmp_path / 'out' / 'person0.png').convert('RGB')
    for box in rank_list_layout(5, title=True)['gallery_boxes']:
        assert border_pixel(img, box) == NEUTRAL_COLOR
    page = (tmp_path / 'out' / 'index.html').read_text()
    assert 'rank-1 hit' not in page and 'Identities unknown' in page


def test_retrieve_errors(model, tmp_path):
    with pytest.raises(FileNotFoundError, match='query'):
        retrieve(model, str(tmp_path / 'nope'), str(tmp_path))
    with pytest.raises(TypeError, match='image paths'):
        retrieve(model, [np.zeros((4, 4, 3), np.uint8)], str(tmp_path))


def run_tool(monkeypatch, argv):
    """tools/retrieve.py's main() with ``argv`` as the command line."""
    spec = importlib.util.spec_from_file_location(
        'reidkit_tool_retrieve', osp.join(TOOLS, 'retrieve.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', ['retrieve.py'] + argv)
    return tool.main()


def test_tool_main(model, tiny_subset, tmp_path, monkeypatch, capsys):
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('not ours')
    query = osp.join(tiny_subset, 'query')
    one_query = osp.join(query, sorted(os.listdir(query))[0])
    result = run_tool(monkeypatch, [
        CONFIG, str(ckpt), '--query', one_query, '--gallery',
        osp.join(tiny_subset, 'bounding_box_test'), '--topk', '3', '--out',
        str(out), '--batch-size', '16', '--keep-same-camera'
    ])
    printed = capsys.readouterr().out
    assert 'Ranked 1 queries against 40 gallery images' in printed
    assert str(out) in printed and 'KEPT' in printed
    stem = osp.splitext(osp.basename(one_query))[0]
    assert sorted(os.listdir(out)) == sorted(
        ['keep.txt', 'index.html', f'{stem}.png'])
    assert len(result.queries[0].gallery_indices) == 3

    gallery = osp.join(tiny_subset, 'bounding_box_test')
    for argv, message in (
        ([CONFIG, str(tmp_path / 'none.pth')], 'Checkpoint'),
        ([CONFIG + '.missing', str(ckpt)], 'Config'),
    ):
        with pytest.raises(SystemExit, match=message):
            run_tool(monkeypatch, argv + ['--query', one_query, '--gallery',
                                          gallery, '--out', str(out)])
    with pytest.raises(SystemExit, match='--query'):
        run_tool(monkeypatch, [CONFIG, str(ckpt), '--query', 'nope.jpg',
                               '--gallery', gallery, '--out', str(out)])
    with pytest.raises(SystemExit, match='--gallery'):
        run_tool(monkeypatch, [CONFIG, str(ckpt), '--query', one_query,
                               '--gallery', 'nope', '--out', str(out)])
    with pytest.raises(SystemExit, match='pid pattern'):
        run_tool(monkeypatch, [
            CONFIG, str(ckpt), '--query', one_query, '--gallery', gallery,
            '--out', str(out), '--pid-pattern', r'^x(\d+)'
        ])
