# Supervised baseline on reidkit's built-in synthetic set ('default' size,
# 'market' style: 300 training identities, 6 cameras), sized to train on
# 2 CPU cores in about 10 minutes: ResNet-18 from random initialisation
# (no ImageNet weights exist on CI), last stride 1, GAP, BN-neck,
# 64x32 input; the loss and optimiser of MMT's source pre-training
# (label-smoothed CE + soft-margin batch-hard triplet, Adam 3.5e-4,
# wd 5e-4, linear warm-up), batch 64 = 16 identities x 4.
#
# Measured (2 CPU cores): see README.md "Results" for the numbers this
# config gives and how long it takes.
_base_ = [
    '../_base_/datasets/synthetic_tiny_input.py',
    '../_base_/default_runtime.py',
]

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
        num_classes=300,
        loss_cls=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
        loss_triplet=dict(type='TripletLoss', margin=None)))

train_dataloader = dict(
    batch_size=64,
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=60))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2),
    dict(type='MultiStepLR', milestones=[15], gamma=0.1, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
