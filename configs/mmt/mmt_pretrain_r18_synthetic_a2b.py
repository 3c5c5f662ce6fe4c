# MMT stage I on reidkit's synthetic set: supervised pre-training on style A
# ('market', 'small': 100 labelled train identities, 6 cameras) with the
# target style B ('other', 'small') forwarded through the network in train
# mode every iteration (TargetBNAdaptHook, no loss) so that BatchNorm
# adapts to B (METHODS.md §3.1). ResNet-18 from random initialisation,
# 64x32 input, label-smoothed CE + softmax-triplet (margin 0), Adam 3.5e-4,
# wd 5e-4, linear warm-up, batch 64 = 16 identities x 4.
#
# Run twice, with seeds 1 and 2 (the initialisations of MMT's two nets):
#   tools/mmt_pretrain.sh configs/mmt/mmt_pretrain_r18_synthetic_a2b.py \
#       work_dirs/mmt_pretrain_synthetic_a2b
# Validation is on B's test split: the direct-transfer result.
# Measured (2 CPU cores): see docs/mmt.md.
_base_ = [
    '../_base_/datasets/synthetic_tiny_input.py',
    '../_base_/default_runtime.py',
]

train_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmcv.Resize', scale=(32, 64), keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=4),
    dict(type='PackReIDInputs'),
]
_source = dict(type='SyntheticReID', size='small', style='market', seed=0)
_target = dict(type='SyntheticReID', size='small', style='other', seed=0)

model = dict(
    type='SupervisedReID',
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, last_stride=1),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    head=dict(
        type='IdentityClsHead',
        num_classes=100,
        loss_cls=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
        loss_triplet=dict(type='TripletLoss', margin=None)))

train_dataloader = dict(
    batch_size=64,
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=40),
    dataset=_source)
val_dataloader = dict(dataset=_target)
test_dataloader = val_dataloader

custom_hooks = [
    dict(
        type='TargetBNAdaptHook',
        dataloader=dict(
            batch_size=64,
            num_workers=2,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(_target, pipeline=train_pipeline))),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2),
    dict(type='MultiStepLR', milestones=[8], gamma=0.1, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=5)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
