import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from reidkit.datasets import PackReIDInputs, RandomPadCrop, SyntheticReID


def test_random_pad_crop_is_a_translation():
    img = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3) + 1
    np.random.seed(0)
    offsets = set()
    for _ in range(50):
        out = RandomPadCrop(padding=2)(dict(img=img.copy()))['img']
        assert out.shape == img.shape
        # find the shift: the original pixel (0, 0) value moves by (dy, dx)
        ys, xs = np.nonzero((out == img[0, 0]).all(-1))
        if len(ys):
            offsets.add((ys[0], xs[0]))
        # everything not from the image is the border value 0
        assert set(np.unique(out)) <= set(np.unique(img)) | {0}
    assert len(offsets) > 3  # random positions
    with pytest.raises(ValueError):
        RandomPadCrop(padding=-1)


def test_pack_reid_inputs():
    results = dict(img=np.zeros((8, 4, 3), np.uint8), img_path='a.jpg',
                   sample_idx=3, gt_pid=7, gt_label=1, camid=2,
                   is_query=False, dataset_name='x')
    packed = PackReIDInputs()(results)
    assert packed['inputs'].shape == (3, 8, 4)
    assert packed['inputs'].dtype == torch.uint8
    s = packed['data_samples']
    assert (s.gt_pid, s.gt_label, s.camid, s.sample_idx) == (7, 1, 2, 3)
    assert s.is_query is False and s.img_path == 'a.jpg'


def test_paper_pipeline_on_synthetic(synthetic_tiny_root):
    init_default_scope('reidkit')
    pipeline = [
        dict(type='mmcv.LoadImageFromFile'),
        dict(type='mmcv.Resize', scale=(128, 256), keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomPadCrop', padding=10),
        dict(type='PackReIDInputs'),
    ]
    ds = SyntheticReID(size='tiny', cache_root=str(
        synthetic_tiny_root).rsplit('/synthetic/', 1)[0], pipeline=pipeline)
    item = ds[0]
    assert item['inputs'].shape == (3, 256, 128)
    assert item['data_samples'].sample_idx == 0
    assert item['data_samples'].gt_label >= 0
    assert Compose(pipeline)  # builds from the registry
