# reidkit's built-in synthetic data (docs/synthetic_data.md) at a small
# input size, so that models train on 2 CPU cores. Same augmentations as the
# papers (§1.2), scaled down: 64x32 input, pad 4 + random crop.
_base_ = ['./person_reid.py']

img_scale = (32, 64)  # (w, h)
train_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=4),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackReIDInputs'),
]
_dataset = dict(type='SyntheticReID', size='default', style='market', seed=0)
train_dataloader = dict(
    num_workers=2,
    dataset=dict(_dataset, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
