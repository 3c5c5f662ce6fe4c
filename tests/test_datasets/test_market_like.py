"""Market-style folder parsers on fake trees with the real file names."""
import os.path as osp

import pytest

from reidkit.datasets import (DatasetLayoutError, DukeMTMCreID, Market1501,
                              PersonX, VeRi776)
from tests.conftest import make_files

MARKET = {
    'bounding_box_train': [
        '0002_c1s1_000451_03.jpg', '0002_c2s1_000301_01.jpg',
        '0007_c3s3_077419_03.jpg', '1500_c6s3_086542_02.jpg',
        'Thumbs.db'
    ],
    'query': ['0001_c1s1_001051_00.jpg', '0003_c2s1_000626_00.jpg'],
    'bounding_box_test': [
        '0000_c1s1_000151_01.jpg',  # distractor: kept
        '-1_c1s1_000401_03.jpg',  # junk: dropped
        '0001_c5s1_001426_03.jpg', '0001_c1s1_001051_02.jpg',
        '0003_c4s1_000601_01.jpg'
    ],
}


def market_tree(root, inner='Market-1501-v15.09.15', spec=MARKET):
    base = osp.join(root, inner) if inner else root
    make_files(base, [osp.join(d, f) for d, fs in spec.items() for f in fs])
    return base


@pytest.mark.parametrize('inner', ['Market-1501-v15.09.15', ''])
def test_market1501_train(tmp_path, inner):
    base = market_tree(str(tmp_path), inner)
    ds = Market1501(data_root=str(tmp_path), split='train')
    assert len(ds) == 4  # Thumbs.db ignored
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # sorted by file name; pids relabelled 2->0, 7->1, 1500->2
    assert [d['gt_pid'] for d in infos] == [2, 2, 7, 1500]
    assert [d['gt_label'] for d in infos] == [0, 0, 1, 2]
    assert [d['camid'] for d in infos] == [0, 1, 2, 5]
    assert [d['sample_idx'] for d in infos] == [0, 1, 2, 3]
    assert infos[0]['img_path'] == osp.join(base, 'bounding_box_train',
                                            '0002_c1s1_000451_03.jpg')
    assert not any(d['is_query'] for d in infos)
    assert ds.statistics() == dict(
        split='train', num_images=4, num_ids=3, num_cameras=4)


def test_market1501_test_split_marks_query_and_drops_junk(tmp_path):
    market_tree(str(tmp_path))
    ds = Market1501(data_root=str(tmp_path), split='test')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['is_query'] for d in infos] == [True] * 2 + [False] * 4
    gallery_pids = sorted(d['gt_pid'] for d in infos if not d['is_query'])
    assert gallery_pids == [0, 1, 1, 3]  # -1 dropped, 0 kept
    assert all(d['gt_label'] == -1 for d in infos)  # only train relabels
    assert Market1501(str(tmp_path), split='query').statistics()[
        'num_images'] == 2
    assert len(Market1501(str(tmp_path), split='gallery')) == 4


def test_market1501_missing_folder_names_it_and_shows_tree(tmp_path):
    spec = dict(MARKET)
    del spec['query']
    market_tree(str(tmp_path), spec=spec)
    with pytest.raises(DatasetLayoutError) as err:
        Market1501(data_root=str(tmp_path), split='test')
    msg = str(err.value)
    assert osp.join('Market-1501-v15.09.15', 'query') in msg
    assert 'bounding_box_test/' in msg and 'never downloads' in msg
    # train alone is fine
    assert len(Market1501(data_root=str(tmp_path), split='train')) == 4


def test_missing_root_and_bad_split(tmp_path):
    with pytest.raises(DatasetLayoutError, match='does not exist'):
        Market1501(data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(ValueError, match='split must be one of'):
        Market1501(data_root=str(tmp_path), split='val')


def test_unparsable_name_is_an_error(tmp_path):
    spec = dict(MARKET, bounding_box_train=['img_0001.jpg'])
    market_tree(str(tmp_path), spec=spec)
    with pytest.raises(ValueError, match='cannot parse pid and camera'):
        Market1501(data_root=str(tmp_path))


def test_dukemtmcreid(tmp_path):
    make_files(
        str(tmp_path / 'DukeMTMC-reID'), [
            'bounding_box_train/0001_c2_f0046182.jpg',
            'bounding_box_train/0001_c6_f0030883.jpg',
            'bounding_box_train/0005_c8_f0093641.jpg',
            'query/0005_c2_f0046985.jpg',
            'bounding_box_test/0002_c1_f0044542.jpg',
            'bounding_box_test/0005_c3_f0071043.jpg',
        ])
    train = DukeMTMCreID(data_root=str(tmp_path))
    assert [(d['gt_pid'], d['gt_label'], d['camid'])
            for d in map(train.get_data_info, range(len(train)))] == [
                (1, 0, 1), (1, 0, 5), (5, 1, 7)]
    test = DukeMTMCreID(data_root=str(tmp_path), split='test')
    assert test.statistics()['num_query'] == 1
    assert test.statistics()['num_gallery'] == 2


def test_veri776(tmp_path):
    make_files(
        str(tmp_path / 'VeRi'), [
            'image_train/0001_c001_00016450_0.jpg',
            'image_train/0001_c019_00017020_0.jpg',
            'image_train/0004_c020_00074530_1.jpg',
            'image_query/0002_c002_00030600_0.jpg',
            'image_test/0002_c003_00084280_0.jpg',
            'image_test/0002_c002_00030605_1.jpg',
        ])
    train = VeRi776(data_root=str(tmp_path))
    assert [d['camid'] for d in map(train.get_data_info, range(3))] == [
        0, 18, 19]
    assert [d['gt_label'] for d in map(train.get_data_info, range(3))] == [
        0, 0, 1]
    test = VeRi776(data_root=str(tmp_path), split='test')
    assert len(test) == 3


def test_personx_camera_remap(tmp_path):
    make_files(
        str(tmp_path / 'PersonX'), [
            'bounding_box_train/1_c3s1_000001.jpg',
            'bounding_box_train/1_c12s1_000041.jpg',
            'bounding_box_train/2_c8s1_000101.jpg',
            'query/5_c4s1_000010.jpg',
            'bounding_box_test/5_c10s1_000090.jpg',
            'bounding_box_test/5_c11s1_000091.jpg',
        ])
    train = PersonX(data_root=str(tmp_path))
    cams = [train.get_data_info(i)['camid'] for i in range(len(train))]
    # sorted names: 1_c12..., 1_c3..., 2_c8...
    assert cams == [5, 0, 2]
    test = PersonX(data_root=str(tmp_path), split='test')
    assert [test.get_data_info(i)['camid'] for i in range(3)] == [1, 3, 4]


def test_personx_unknown_camera(tmp_path):
    make_files(str(tmp_path), ['bounding_box_train/1_c5s1_000001.jpg'])
    with pytest.raises(ValueError, match='not one of the release cameras'):
        PersonX(data_root=str(tmp_path))
