"""MultiView: independently augmented views, packed and collated."""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from reidkit.datasets import SyntheticReID
from reidkit.datasets.transforms import MultiView, PackReIDInputs
from reidkit.registry import TRANSFORMS

VIEW_TRANSFORMS = [
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=4),
]


def _results(seed=0):
    rng = np.random.RandomState(seed)
    return dict(img=rng.randint(1, 255, (16, 8, 3)).astype(np.uint8),
                img_path='a.jpg', sample_idx=5, gt_pid=7, gt_label=2,
                camid=1, is_query=False, dataset_name='x')


def test_views_differ_but_share_shape_and_metadata():
    np.random.seed(0)
    t = MultiView(transforms=VIEW_TRANSFORMS, num_views=2)
    results = _results()
    original = results['img'].copy()
    differ = 0
    for _ in range(10):
        out = t(dict(results))
        assert isinstance(out['img'], list) and len(out['img']) == 2
        a, b = out['img']
        assert a.shape == b.shape == original.shape
        assert (out['img_path'], out['sample_idx'], out['gt_pid'],
                out['camid']) == ('a.jpg', 5, 7, 1)
        differ += not np.array_equal(a, b)
    assert differ >= 8  # independent random flip + crop per view
    # the input was deep-copied, never changed in place
    assert np.array_equal(results['img'], original)


def test_views_are_reproducible_with_a_seed():
    t = MultiView(transforms=VIEW_TRANSFORMS, num_views=3)
    np.random.seed(1)
    first = t(_results())['img']
    np.random.seed(1)
    second = t(_results())['img']
    assert len(first) == 3
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_single_view_and_deterministic_views():
    # Without randomness every view equals the plain pipeline's output.
    resize = dict(type='mmcv.Resize', scale=(4, 8), keep_ratio=False)
    out = MultiView(transforms=[resize], num_views=2)(_results())
    plain = TRANSFORMS.build(resize)(_results())
    assert all(np.array_equal(v, plain['img']) for v in out['img'])
    assert out['img_shape'] == plain['img_shape'] == (8, 4)
    one = MultiView(transforms=[resize], num_views=1)(_results())
    assert len(one['img']) == 1


@pytest.mark.parametrize('bad', [0, -1, 1.5, '2', True, None])
def test_num_views_validation(bad):
    with pytest.raises(ValueError, match='num_views must be an int >= 1'):
        MultiView(transforms=VIEW_TRANSFORMS, num_views=bad)


def test_transforms_validation():
    with pytest.raises(TypeError, match='list of transform configs'):
        MultiView(transforms=dict(type='RandomPadCrop'))
    with pytest.raises(TypeError, match='config dict or a callable'):
        MultiView(transforms=[3])
    # callables are accepted as they are
    out = MultiView(transforms=[lambda r: r])(_results())
    assert len(out['img']) == 2
    # a view dropped by the sub-pipeline drops the sample
    assert MultiView(transforms=[lambda r: None])(_results()) is None


def test_builds_from_registry_with_repr():
    t = TRANSFORMS.build(dict(type='MultiView', transforms=VIEW_TRANSFORMS))
    assert isinstance(t, MultiView) and t.num_views == 2
    assert 'num_views=2' in repr(t) and 'RandomPadCrop' in repr(t)


def test_pack_reid_inputs_list_of_views():
    results = _results()
    img = results['img']
    results['img'] = [img, img[:, ::-1], img[..., 0]]
    packed = PackReIDInputs()(results)
    inputs = packed['inputs']
    assert isinstance(inputs, list) and len(inputs) == 3
    assert all(x.dtype == torch.uint8 for x in inputs)
    assert inputs[0].shape == inputs[1].shape == (3, 16, 8)
    assert inputs[2].shape == (1, 16, 8)  # a grey view gets one channel
    assert torch.equal(inputs[0], torch.from_numpy(img).permute(2, 0, 1))
    assert torch.equal(inputs[1],
                       torch.from_numpy(img[:, ::-1].copy()).permute(2, 0, 1))
    s = packed['data_samples']
    assert (s.gt_pid, s.gt_label, s.camid, s.sample_idx) == (7, 2, 1, 5)
    # a single image is unchanged: one tensor
    single = PackReIDInputs()(_results())['inputs']
    assert isinstance(single, torch.Tensor) and single.shape == (3, 16, 8)


def test_pseudo_collate_gives_views_of_samples():
    pipeline = Compose([
        MultiView(transforms=VIEW_TRANSFORMS, num_views=2),
        PackReIDInputs()
    ])
    np.random.seed(0)
    batch = pseudo_collate([pipeline(_results(i)) for i in range(3)])
    assert len(batch['inputs']) == 2  # views
    for view in batch['inputs']:
        assert len(view) == 3  # samples
        assert all(x.shape == (3, 16, 8) for x in view)
    assert len(batch['data_samples']) == 3


def test_multi_view_on_synthetic(synthetic_tiny_root):
    init_default_scope('reidkit')
    pipeline = [
        dict(type='mmcv.LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[
            dict(type='mmcv.Resize', scale=(32, 64), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='RandomPadCrop', padding=4),
        ]),
        dict(type='PackReIDInputs'),
    ]
    ds = SyntheticReID(size='tiny', cache_root=str(
        synthetic_tiny_root).rsplit('/synthetic/', 1)[0], pipeline=pipeline)
    np.random.seed(0)
    item = ds[0]
    assert [x.shape for x in item['inputs']] == [(3, 64, 32)] * 2
    assert not torch.equal(*item['inputs'])
    assert item['data_samples'].sample_idx == 0
