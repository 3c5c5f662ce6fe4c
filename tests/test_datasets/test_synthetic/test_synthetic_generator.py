"""Tests of the procedural synthetic re-ID data generator."""
import hashlib
import json
import os
import os.path as osp
import re
import time

import numpy as np
import pytest
from PIL import Image

from reidkit.datasets.synthetic import (GENERATOR_VERSION, SYNTHETIC_SIZES,
                                        ensure_synthetic_reid,
                                        generate_synthetic_reid)
from reidkit.datasets.synthetic import generator as gen_module

NAME_RE = re.compile(r'^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$')
SPLITS = ('bounding_box_train', 'query', 'bounding_box_test')


def _parse(folder):
    """(file names, pids, camera ids) of one split folder."""
    names = sorted(os.listdir(folder))
    pids, cams = [], []
    for name in names:
        m = NAME_RE.match(name)
        assert m is not None, name
        pids.append(int(m.group(1)))
        cams.append(int(m.group(2)))
    return names, np.array(pids), np.array(cams)


def _hashes(root):
    out = {}
    for split in SPLITS:
        for name in sorted(os.listdir(osp.join(root, split))):
            with open(osp.join(root, split, name), 'rb') as f:
                out[f'{split}/{name}'] = hashlib.md5(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def tiny_market(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('syn') / 'tiny_market')
    start = time.perf_counter()
    meta = generate_synthetic_reid(
        out, size='tiny', style='market', seed=0, num_workers=0)
    return out, meta, time.perf_counter() - start


@pytest.fixture(scope='module')
def tiny_other(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('syn') / 'tiny_other')
    meta = generate_synthetic_reid(
        out, size='tiny', style='other', seed=0, num_workers=0)
    return out, meta


def test_tiny_layout_and_names(tiny_market):
    root, meta, elapsed = tiny_market
    # Typically well under a second; generous bound for loaded CI machines.
    assert elapsed < 15, f'tiny generation took {elapsed:.1f} s'
    assert sorted(os.listdir(root)) == sorted(SPLITS + ('meta.json', ))
    for split in SPLITS:
        names, _, cams = _parse(osp.join(root, split))
        assert len(names) > 0
        assert cams.min() >= 1 and cams.max() <= 6
        img = Image.open(osp.join(root, split, names[0]))
        assert img.format == 'JPEG' and img.mode == 'RGB'
        assert img.size == (64, 128)  # (W, H)
    assert meta['generator_version'] == GENERATOR_VERSION
    assert meta['num_cameras'] == 6


def test_other_style_has_8_cameras(tiny_other):
    root, meta = tiny_other
    assert meta['num_cameras'] == 8
    cams = set()
    for split in SPLITS:
        cams |= set(_parse(osp.join(root, split))[2].tolist())
    assert cams <= set(range(1, 9)) and max(cams) > 6


def test_determinism(tiny_market, tmp_path):
    root, _, _ = tiny_market
    same = generate_synthetic_reid(
        str(tmp_path / 'same'), size='tiny', seed=0, num_workers=0)
    assert same['splits'] == json.load(open(osp.join(root,
                                                     'meta.json')))['splits']
    ref = _hashes(root)
    assert _hashes(str(tmp_path / 'same')) == ref
    generate_synthetic_reid(
        str(tmp_path / 'seed1'), size='tiny', seed=1, num_workers=0)
    other = _hashes(str(tmp_path / 'seed1'))
    assert other != ref
    # Differing file lists and differing pixels of common names both count;
    # with another seed nearly every image must change.
    common = set(ref) & set(other)
    assert sum(ref[k] == other[k] for k in common) <= len(common) // 10


def test_worker_processes_give_identical_output(tiny_market, tmp_path):
    root, _, _ = tiny_market
    out = str(tmp_path / 'workers')
    generate_synthetic_reid(out, size='tiny', seed=0, num_workers=2)
    assert _hashes(out) == _hashes(root)


def test_splits_pids_and_matches(tiny_market):
    root, meta, _ = tiny_market
    spec = SYNTHETIC_SIZES['tiny']
    _, tr_p, tr_c = _parse(osp.join(root, 'bounding_box_train'))
    _, q_p, q_c = _parse(osp.join(root, 'query'))
    _, g_p, g_c = _parse(osp.join(root, 'bounding_box_test'))
    train_ids = set(tr_p.tolist())
    test_ids = set(g_p[g_p > 0].tolist())
    assert train_ids == set(range(1, spec['num_train_ids'] + 1))
    assert min(test_ids) > max(train_ids)
    assert len(test_ids) == spec['num_test_ids']
    assert set(q_p.tolist()) == test_ids
    assert train_ids.isdisjoint(test_ids)
    # Every train identity is seen by at least two cameras.
    for pid in train_ids:
        assert len(set(tr_c[tr_p == pid].tolist())) >= 2
    # Every query has a gallery image of its pid in another camera.
    for pid, cam in zip(q_p, q_c):
        assert np.any((g_p == pid) & (g_c != cam)), (pid, cam)
    # At most max_query_cams queries per identity, in distinct cameras.
    for pid in test_ids:
        qc = q_c[q_p == pid]
        assert 1 <= len(qc) <= spec['max_query_cams']
        assert len(set(qc.tolist())) == len(qc)
    assert (g_p == 0).sum() == spec['num_distractors']
    assert (g_p == -1).sum() == spec['num_junk']
    assert not np.any(q_p <= 0) and not np.any(tr_p <= 0)


def test_meta_matches_files(tiny_market):
    root, meta, _ = tiny_market
    with open(osp.join(root, 'meta.json')) as f:
        on_disk = json.load(f)
    assert on_disk == meta
    assert meta['params']['size'] == 'tiny'
    assert meta['params']['style'] == 'market'
    for split in SPLITS:
        names, pids, cams = _parse(osp.join(root, split))
        stats = meta['splits'][split]
        assert stats['num_images'] == len(names)
        assert stats['num_ids'] == len(set(pids[pids > 0].tolist()))
        assert stats['images_per_camera'] == [
            int((cams == c).sum()) for c in range(1, meta['num_cameras'] + 1)
        ]
    gallery = meta['splits']['bounding_box_test']
    _, g_p, _ = _parse(osp.join(root, 'bounding_box_test'))
    assert gallery['num_distractors'] == int((g_p == 0).sum())
    assert gallery['num_junk'] == int((g_p == -1).sum())


def test_near_duplicates(tiny_market):
    _, meta, _ = tiny_market
    n_train = SYNTHETIC_SIZES['tiny']['num_train_ids']
    dups = meta['near_duplicates']
    assert len(dups) > 0
    for d in dups:
        assert d['parent'] < d['pid']
        assert (d['parent'] <= n_train) == (d['pid'] <= n_train)
        assert 1 <= len(d['changed']) <= 2
    # Attributes do not depend on the order identities are generated in.
    bank_a = gen_module._IdentityBank(0, 'market', 1, 0.2)
    bank_b = gen_module._IdentityBank(0, 'market', 1, 0.2)
    forward = [bank_a.get(p) for p in range(1, n_train + 1)]
    backward = [bank_b.get(p) for p in range(n_train, 0, -1)][::-1]
    assert forward == backward


def _features(folder):
    """Grey-world normalised colour histograms of 4 horizontal stripes of
    the crop centre (a classic raw-pixel re-ID baseline)."""
    names, pids, cams = _parse(folder)
    feats = []
    for name in names:
        img = np.asarray(Image.open(osp.join(folder, name)), np.float32)
        img = img / (img.reshape(-1, 3).mean(0) + 1e-3) * 100
        img = img[14:122, 18:46]
        q = np.clip(img // 50, 0, 3).astype(np.int64)
        hist = [
            np.bincount(
                (p[..., 0] * 16 + p[..., 1] * 4 + p[..., 2]).ravel(),
                minlength=64) for p in np.array_split(q, 4, axis=0)
        ]
        h = np.sqrt(np.concatenate(hist).astype(np.float64))
        feats.append(h / np.linalg.norm(h))
    return np.stack(feats), pids, cams


def _rank1(root):
    qf, qp, qc = _features(osp.join(root, 'query'))
    gf, gp, gc = _features(osp.join(root, 'bounding_box_test'))
    keep = gp != -1  # junk never counts
    gf, gp, gc = gf[keep], gp[keep], gc[keep]
    dist = 1 - qf @ gf.T
    hits = []
    for i in range(len(qp)):
        valid = ~((gp == qp[i]) & (gc == qc[i]))  # same pid, same camera
        best = np.argmin(dist[i][valid])
        hits.append(gp[valid][best] == qp[i])
    chance = 1.0 / len(set(gp[gp > 0].tolist()))
    return float(np.mean(hits)), chance


@pytest.mark.parametrize('style', ['market', 'other'])
def test_learnable_but_not_trivial(style, tiny_market, tiny_other):
    root = tiny_market[0] if style == 'market' else tiny_other[0]
    r1, chance = _rank1(root)
    # Measured with seed 0: market 0.28, other 0.16 (chance 0.0625).
    assert 2 * chance < r1 < 0.9, (r1, chance)


def test_ensure_caches(tmp_path, monkeypatch):
    monkeypatch.setenv('REIDKIT_DATA_CACHE', str(tmp_path / 'cache'))
    folder = ensure_synthetic_reid(size='tiny', style='other', seed=3)
    assert folder == osp.join(
        str(tmp_path / 'cache'), 'synthetic',
        f'other_tiny_seed3_v{GENERATOR_VERSION}')
    assert osp.isfile(osp.join(folder, 'meta.json'))
    # No leftover temporary folders next to it.
    assert os.listdir(osp.dirname(folder)) == [osp.basename(folder)]

    def fail(*args, **kwargs):
        raise AssertionError('should use the cached copy')

    monkeypatch.setattr(gen_module, 'generate_synthetic_reid', fail)
    assert ensure_synthetic_reid(size='tiny', style='other', seed=3) == folder
    # An explicit root wins over the environment variable.
    monkeypatch.undo()
    other = ensure_synthetic_reid(
        root=str(tmp_path / 'explicit'), size='tiny', seed=0)
    assert other.startswith(str(tmp_path / 'explicit'))


def test_existing_output(tiny_market, tmp_path):
    root, meta, _ = tiny_market
    # A finished data set is reused as is.
    assert generate_synthetic_reid(root, size='tiny', num_workers=0) == meta
    # ... but not when it was made with other parameters.
    with pytest.raises(FileExistsError, match='seed'):
        generate_synthetic_reid(root, size='tiny', seed=5)
    # A foreign non-empty folder is never overwritten.
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'something.txt').write_text('x')
    with pytest.raises(FileExistsError):
        generate_synthetic_reid(str(busy), size='tiny')


def test_invalid_choices(tmp_path):
    with pytest.raises(ValueError, match='tiny, small, default'):
        ensure_synthetic_reid(str(tmp_path), size='huge')
    with pytest.raises(ValueError, match='market, other'):
        ensure_synthetic_reid(str(tmp_path), style='duke')
    with pytest.raises(ValueError, match='market, other'):
        generate_synthetic_reid(str(tmp_path / 'x'), size='tiny', style='x')
    assert not os.listdir(tmp_path)
