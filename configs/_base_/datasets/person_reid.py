# Person re-ID data settings of the papers (METHODS.md §1.2-1.3): bicubic
# resize to 256x128, flip, pad 10 + random crop; normalisation (and random
# erasing, where a method uses it) happen in the model's data preprocessor.
# Dataset files below this one set the dataset type and data_root.
img_scale = (128, 256)  # (w, h)

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

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    # New workers every epoch, so that EpochSeedHook (default_runtime.py)
    # seeds them from (seed, epoch): new augmentations each epoch and a
    # resumed run identical to an uninterrupted one. Persistent workers keep
    # their random state, which a checkpoint cannot restore.
    persistent_workers=False,
    # P x K batches: K = num_instances; the sampler takes batch_size from
    # the dataloader (reidkit.apis.prepare_config).
    sampler=dict(type='IdentitySampler', num_instances=4),
    dataset=dict(split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric')
test_evaluator = val_evaluator
