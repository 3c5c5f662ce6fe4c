# ResNet-50 (ImageNet weights from a local file), last stride 1, global
# average pooling, BN-neck with frozen bias (METHODS.md §1.1).
model = dict(
    type='SupervisedReID',
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        last_stride=1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet50-0676ba61.pth')),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    head=dict(
        type='IdentityClsHead',
        num_classes=751,
        loss_cls=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
        # MMT's SoftTripletLoss(margin=0): log(1 + exp(d_ap - d_an)).
        loss_triplet=dict(type='TripletLoss', margin=None)))
