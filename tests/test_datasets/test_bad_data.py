"""Bad input data: clear start-up errors naming the file and the fix,
skip_broken_images, and odd but valid images converted by the pipeline."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.logging import MMLogger

from reidkit.datasets import Market1501
from reidkit.datasets.base_reid_dataset import (BrokenImageError,
                                                DatasetLayoutError,
                                                image_problem)
from reidkit.registry import TRANSFORMS
from tests.conftest import make_files

GOOD = ['bounding_box_train/0001_c1s1_000001_01.jpg',
        'bounding_box_train/0001_c2s1_000002_01.jpg',
        'bounding_box_train/0002_c1s1_000003_01.jpg']


def jpeg_bytes(shape=(16, 8, 3)):
    return cv2.imencode('.jpg', np.full(shape, 90, np.uint8))[1].tobytes()


def write(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


@pytest.fixture
def market(tmp_path):
    make_files(str(tmp_path), GOOD)
    return tmp_path


def test_missing_or_misnamed_folder(tmp_path):
    with pytest.raises(DatasetLayoutError) as info:
        Market1501(data_root=str(tmp_path / 'nowhere'))
    assert 'nowhere' in str(info.value)
    assert 'bounding_box_train/' in str(info.value)  # the expected tree
    make_files(str(tmp_path), ['bounding_box_trian/0001_c1s1_000001_01.jpg'])
    with pytest.raises(DatasetLayoutError,
                       match=r'bounding_box_train" does not exist'):
        Market1501(data_root=str(tmp_path))


def test_empty_split(tmp_path):
    os.makedirs(tmp_path / 'bounding_box_train')
    with pytest.raises(DatasetLayoutError, match='no images in'):
        Market1501(data_root=str(tmp_path))


def test_unparseable_name_names_file_and_fix(market):
    make_files(str(market), ['bounding_box_train/IMG_2041.jpg'])
    with pytest.raises(ValueError) as info:
        Market1501(data_root=str(market))
    msg = str(info.value)
    assert '"IMG_2041.jpg"' in msg
    assert str(market / 'bounding_box_train') in msg
    assert 'e.g. "0002_c1s1_000451_03.jpg"' in msg
    assert 'ImageFolderReID' in msg


def test_image_problem_cases(tmp_path):
    good = jpeg_bytes()
    cases = {
        'ok.jpg': (good, None),
        'empty.jpg': (b'', 'empty'),
        'cut.jpg': (good[:len(good) // 2], 'truncated JPEG'),
        'text.jpg': (b'hello, not an image', 'not a JPEG, PNG or BMP'),
        'png_as.jpg': (cv2.imencode('.png', np.zeros((4, 4, 3),
                                                     np.uint8))[1].tobytes(),
                       None),
    }
    png = cv2.imencode('.png', np.zeros((40, 40, 3), np.uint8))[1].tobytes()
    cases['cut.png'] = (png[:-20], 'truncated PNG')
    bmp = cv2.imencode('.bmp', np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    cases['ok.bmp'] = (bmp, None)
    cases['cut.bmp'] = (bmp[:-10], 'truncated BMP')
    for name, (data, expected) in cases.items():
        write(str(tmp_path / name), data)
        problem = image_problem(str(tmp_path / name))
        if expected is None:
            assert problem is None, name
        else:
            assert expected in problem, (name, problem)
    assert 'cannot be read' in image_problem(str(tmp_path / 'missing.jpg'))


def test_broken_images_stop_start_up_with_paths(market):
    cut = str(market / 'bounding_box_train/0003_c1s1_000004_01.jpg')
    text = str(market / 'bounding_box_train/0003_c2s1_000005_01.jpg')
    write(cut, jpeg_bytes()[:100])
    write(text, b'<html>404</html>')
    with pytest.raises(BrokenImageError) as info:
        Market1501(data_root=str(market))
    msg = str(info.value)
    assert '2 of 5 image files are broken' in msg
    assert f'{cut} is a truncated JPEG' in msg
    assert f'{text} is not a JPEG' in msg
    assert 'skip_broken_images=True' in msg


def test_skip_broken_images_counts_and_lists(market, capsys):
    cut = str(market / 'bounding_box_train/0003_c1s1_000004_01.jpg')
    write(cut, jpeg_bytes()[:100])
    MMLogger.get_instance('reidkit_test_bad_data')
    ds = Market1501(data_root=str(market), skip_broken_images=True)
    assert len(ds) == 3
    assert ds.broken_images == [(cut, 'is a truncated JPEG (no '
                                 'end-of-image marker)')]
    assert cut not in [ds.get_data_info(i)['img_path']
                       for i in range(len(ds))]
    # the remaining train ids are relabelled contiguously
    assert sorted({ds.get_data_info(i)['gt_label']
                   for i in range(len(ds))}) == [0, 1]
    out = capsys.readouterr().out
    assert 'skipping 1 of 4 images' in out and cut in out
    # check_images=False leaves everything to the loader
    assert len(Market1501(data_root=str(market), check_images=False)) == 4


def test_every_image_broken(tmp_path):
    write(str(tmp_path / 'bounding_box_train/0001_c1s1_000001_01.jpg'), b'x')
    with pytest.raises(BrokenImageError, match='every image is broken'):
        Market1501(data_root=str(tmp_path), skip_broken_images=True)


@pytest.mark.parametrize('name,image', [
    ('grey.png', np.full((20, 10), 200, np.uint8)),
    ('rgba.png', np.dstack([np.full((20, 10, 3), 50, np.uint8),
                            np.full((20, 10), 128, np.uint8)])),
    ('one_pixel.jpg', np.full((1, 1, 3), 255, np.uint8)),
    ('huge_aspect.png', np.zeros((300, 2, 3), np.uint8)),
])
def test_odd_images_are_converted(tmp_path, name, image):
    path = str(tmp_path / name)
    cv2.imwrite(path, image)
    assert image_problem(path) is None
    pipeline = Compose([TRANSFORMS.build(t) for t in [
        dict(type='mmcv.LoadImageFromFile'),
        dict(type='mmcv.Resize', scale=(32, 64), keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomPadCrop', padding=4),
        dict(type='PackReIDInputs'),
    ]])
    out = pipeline(dict(img_path=path, gt_pid=0, camid=0))
    assert tuple(out['inputs'].shape) == (3, 64, 32)
