# Cluster Contrast model (METHODS.md §2): ResNet-50 (ImageNet weights from a
# local file), last stride 1, BN-neck with frozen bias; L2-normalised
# BN-neck features against a cluster memory (tau 0.05, momentum 0.1 = the
# weight kept on the old entry, per-sample 'mean' update: the paper's CM).
# Pooling: average pooling as in the paper; the official code's default is
# GeM (configs named *_gem_* switch it; METHODS.md §10.1).
# BatchNorm over groups of 64 images: the paper's batch of 256 ran as
# DataParallel on 4 GPUs, 64 per GPU (METHODS.md §9.1; docs/distributed.md).
model = dict(
    type='ClusterContrast',
    bn_samples=64,
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        # RandomErasing(0.5, sl 0.02, sh 0.4, r1 0.3, ImageNet-mean fill)
        # after normalisation, as in the reference code (METHODS.md §1.2).
        batch_augments=[dict(type='RandomErasing', prob=0.5)]),
    backbone=dict(
        type='ResNet',
        depth=50,
        last_stride=1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet50-0676ba61.pth')),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    memory=dict(
        type='ClusterMemory', temperature=0.05, momentum=0.1, update='mean'))
