_base_ = ['./person_reid.py']

# VeRi-776 at 224x224 (Cluster Contrast README). Expected layout:
# docs/datasets.md (reidkit never downloads data).
img_scale = (224, 224)  # (w, h)
train_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=10),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackReIDInputs'),
]
_dataset = dict(type='VeRi776', data_root='data/veri')
train_dataloader = dict(dataset=dict(_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
