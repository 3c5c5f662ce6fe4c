# MMT stage II, Market-1501 -> MSMT17, k-means with K = 1500 (METHODS.md
# §3.2): every epoch k-means (sklearn, as MMT) on the average of the two mean
# teachers' features (not re-normalised), all four classifiers re-initialised
# from the normalised centroids, Adam state cleared; 40 epochs x 400
# iterations of 64 = 16 x 4 images, two augmented views per image. Needs the
# two stage-I checkpoints of mmt_pretrain_r50_market2msmt.py.
#
# Expected: 22.9 / 49.2 / 63.1 / 68.8 (mAP / R1 / R5 / R10, ResNet-50,
# METHODS.md §7.4). Not reproduced here (no data set or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/mmt_r50.py',
    '../_base_/datasets/msmt17.py',
    '../_base_/mmt_uda.py',
]

model = dict(
    num_classes=1500,
    pretrained=[
        'work_dirs/mmt_pretrain_r50_market2msmt/seed1/epoch_80.pth',
        'work_dirs/mmt_pretrain_r50_market2msmt/seed2/epoch_80.pth',
    ])
train_dataloader = dict(
    batch_size=64,
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=400),
    dataset=dict(pipeline={{_base_.mmt_train_pipeline}}))
val_evaluator = {{_base_.mmt_val_evaluator}}
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        clusterer=dict(
            type='KMeans', num_clusters=1500, backend='sklearn',
            normalize=False)),
    dict(type='MeanTeacherHook'),
    dict(type='OptimizerResetHook'),
]
