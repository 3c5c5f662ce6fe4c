# MMT stage II, Market-1501 -> DukeMTMC-reID, k-means with K = 500 (METHODS.md
# §3.2): every epoch k-means (sklearn, as MMT) on the average of the two mean
# teachers' features (not re-normalised), all four classifiers re-initialised
# from the normalised centroids, Adam state cleared; 40 epochs x 400
# iterations of 64 = 16 x 4 images, two augmented views per image. Needs the
# two stage-I checkpoints of mmt_pretrain_r50_market2duke.py.
#
# Expected: 63.1 / 76.8 / 88.0 / 92.2 (mAP / R1 / R5 / R10, ResNet-50,
# METHODS.md §7.4). Not reproduced here (no data set or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/mmt_r50.py',
    '../_base_/datasets/dukemtmcreid.py',
    '../_base_/mmt_uda.py',
]

model = dict(
    num_classes=500,
    pretrained=[
        'work_dirs/mmt_pretrain_r50_market2duke/seed1/epoch_80.pth',
        'work_dirs/mmt_pretrain_r50_market2duke/seed2/epoch_80.pth',
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
            type='KMeans', num_clusters=500, backend='sklearn',
            normalize=False)),
    dict(type='MeanTeacherHook'),
    dict(type='OptimizerResetHook'),
]
