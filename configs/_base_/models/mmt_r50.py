# MMT stage II model (METHODS.md §3.2, §3.4): two ResNet-50 networks (last
# stride 1, GAP, BN-neck with frozen bias, bias-free classifier) started
# from the two stage-I checkpoints, two mean teachers (alpha 0.999 with
# the 1 - 1/(t+1) warm-up), losses weighted soft-CE 0.5 / soft-triplet 0.8
# (hard losses 0.5 / 0.2), label smoothing 0.1, softmax-triplet margin 0.
# Random erasing after normalisation in stage II (METHODS.md §1.2).
# BatchNorm over groups of 16 images: the paper's batch of 64 ran as
# DataParallel on 4 GPUs (METHODS.md §9.1; docs/distributed.md).
# Leaf configs set num_classes and the pretrained checkpoint paths.
model = dict(
    type='MMT',
    bn_samples=16,
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        batch_augments=[dict(type='RandomErasing', prob=0.5)]),
    backbone=dict(type='ResNet', depth=50, last_stride=1),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    num_classes=500,
    pretrained=None,
    alpha=0.999,
    soft_ce_weight=0.5,
    soft_tri_weight=0.8)
