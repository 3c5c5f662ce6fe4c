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
