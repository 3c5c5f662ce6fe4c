import torch

from reidkit.models import RandomErasing, ReIDDataPreprocessor
from reidkit.structures import ReIDDataSample


def test_normalise_and_bgr_to_rgb():
    pre = ReIDDataPreprocessor(mean=[10, 20, 30], std=[2, 4, 5])
    img = torch.zeros(3, 4, 2, dtype=torch.uint8)
    img[0], img[1], img[2] = 30, 20, 10  # BGR
    out = pre(dict(inputs=[img], data_samples=[ReIDDataSample()]))
    # RGB = (10, 20, 30) -> normalised to 0
    assert torch.allclose(out['inputs'], torch.zeros(1, 3, 4, 2))
    assert len(out['data_samples']) == 1


def test_random_erasing_region_and_fill():
    torch.manual_seed(0)
    aug = RandomErasing(prob=1.0, sl=0.1, sh=0.1, r1=1.0, fill=(1, 2, 3))
    x = torch.zeros(4, 3, 20, 10)
    out = aug(x.clone())
    for img in out:
        erased = (img != 0).all(0)
        # area 0.1 * 200 = 20 px, aspect 1 -> a 4x4 or 5x5 (round(4.47)=4)
        assert erased.sum().item() == 16
        rows, cols = erased.nonzero(as_tuple=True)
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
        assert torch.equal(img[:, erased][:, 0], torch.tensor([1., 2., 3.]))
    assert torch.equal(RandomErasing(prob=0.0)(x.clone()), x)


def test_random_erasing_only_in_training():
    pre = ReIDDataPreprocessor(batch_augments=[dict(type='RandomErasing',
                                                    prob=1.0)])
    data = dict(inputs=[torch.full((3, 32, 16), 128, dtype=torch.uint8)],
                data_samples=[ReIDDataSample()])
    test_out = pre(data, training=False)['inputs']
    torch.manual_seed(0)
    train_out = pre(data, training=True)['inputs']
    assert not torch.equal(test_out, train_out)
    assert torch.allclose(train_out[0, 0][train_out[0, 0] != test_out[0, 0]],
                          torch.tensor(0.485))


def _multi_view_batch(num_views=2, batch=3, seed=0):
    """A pseudo-collated batch of MultiView + PackReIDInputs outputs."""
    from mmengine.dataset import pseudo_collate
    g = torch.Generator().manual_seed(seed)
    items = [
        dict(inputs=[torch.randint(0, 256, (3, 8, 4), generator=g,
                                   dtype=torch.uint8)
                     for _ in range(num_views)],
             data_samples=ReIDDataSample(sample_idx=i))
        for i in range(batch)
    ]
    return pseudo_collate(items)


def test_multi_view_equals_each_view_alone():
    pre = ReIDDataPreprocessor(mean=[10, 20, 30], std=[2, 4, 5])
    data = _multi_view_batch()
    assert pre.is_multi_view(data['inputs'])
    out = pre(data, training=False)
    assert isinstance(out['inputs'], list) and len(out['inputs']) == 2
    assert [s.sample_idx for s in out['data_samples']] == [0, 1, 2]
    for v, view in enumerate(data['inputs']):
        alone = pre(dict(inputs=list(view),
                         data_samples=data['data_samples']))['inputs']
        assert out['inputs'][v].shape == (3, 3, 8, 4)
        assert out['inputs'][v].dtype == torch.float32
        assert torch.equal(out['inputs'][v], alone)
        # BGR -> RGB, then normalised by hand
        by_hand = (torch.stack(view)[:, [2, 1, 0]].float() -
                   torch.tensor([10., 20., 30.]).view(1, 3, 1, 1)) / \
            torch.tensor([2., 4., 5.]).view(1, 3, 1, 1)
        assert torch.allclose(out['inputs'][v], by_hand)
    assert not torch.equal(out['inputs'][0], out['inputs'][1])


def test_multi_view_stacked_views_and_single_view_unchanged():
    pre = ReIDDataPreprocessor()
    data = _multi_view_batch()
    stacked = dict(inputs=[torch.stack(v) for v in data['inputs']],
                   data_samples=data['data_samples'])
    from_lists = pre(data)['inputs']
    from_stacked = pre(stacked)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(from_lists, from_stacked))
    # single view (list of CHW tensors, or one NCHW tensor): one tensor
    single = pre(dict(inputs=list(data['inputs'][0]),
                      data_samples=data['data_samples']))['inputs']
    assert isinstance(single, torch.Tensor) and single.shape == (3, 3, 8, 4)
    assert torch.equal(single, from_lists[0])
    nchw = pre(dict(inputs=torch.stack(data['inputs'][0])))['inputs']
    assert torch.equal(nchw, single)
    assert not pre.is_multi_view(list(data['inputs'][0]))


def test_multi_view_batch_augments_independent_per_view():
    pre = ReIDDataPreprocessor(batch_augments=[dict(type='RandomErasing',
                                                    prob=1.0)])
    view = [torch.full((3, 32, 16), 128, dtype=torch.uint8)] * 2
    data = dict(inputs=[view, view], data_samples=[ReIDDataSample()] * 2)
    test_out = pre(data, training=False)['inputs']
    assert torch.equal(test_out[0], test_out[1])  # no augment in test
    torch.manual_seed(0)
    train_out = pre(data, training=True)['inputs']
    assert len(train_out) == 2
    for v in range(2):
        assert not torch.equal(train_out[v], test_out[v])  # erased
    # the two views (same input) got different erasing rectangles
    assert not torch.equal(train_out[0], train_out[1])
