# GDS's host method on reidkit's synthetic set ('small', 'market' style,
# 100 train identities), from random initialisation, sized like the Cluster
# Contrast demo (configs/cluster_contrast/cc_r18_synthetic.py): every epoch
# DBSCAN (eps 0.5, min_samples 4) on the k-reciprocal Jaccard distance of
# camera-normalised BN-neck features; batch-hard triplet (margin 0.3) on
# the pooled features with the pseudo labels; Adam 3.5e-4, wd 5e-4;
# ResNet-18, 64x32, batch 64 = 16 x 4, 12 epochs x 60 iterations.
# The baseline row of the GDS ablation (docs/gds.md).
_base_ = ['../cluster_contrast/cc_r18_synthetic.py']

model = dict(
    _delete_=True,
    type='PseudoLabelTriplet',
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, last_stride=1),
    neck=dict(type='BNNeck', pooling=dict(type='AvgPooling')),
    loss_triplet=dict(type='TripletLoss', margin=0.3))
