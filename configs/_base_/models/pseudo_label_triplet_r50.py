# GDS's host method (METHODS.md §6.3): ResNet-50 (ImageNet weights from a
# local file), last stride 1, GAP, BN-neck; clustering pseudo labels and
# the batch-hard triplet loss (margin 0.3) on the pooled features; random
# erasing after normalisation. GDS-H is added by the leaf configs through
# model.pair_losses.
model = dict(
    type='PseudoLabelTriplet',
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        batch_augments=[dict(type='RandomErasing', prob=0.5)]),
    backbone=dict(
        type='ResNet',
        depth=50,
        last_stride=1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet50-0676ba61.pth')),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    loss_triplet=dict(type='TripletLoss', margin=0.3))
