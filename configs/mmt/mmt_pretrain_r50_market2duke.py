# MMT stage I for Market-1501 -> DukeMTMC-reID (METHODS.md §3.1): the
# supervised source model of supervised_r50_market1501.py (ResNet-50,
# label-smoothed CE + softmax-triplet with margin 0, Adam 3.5e-4, warm-up over
# 10 epochs, x0.1 at epochs 40 and 70, 80 epochs x 100 iterations, no random
# erasing), with the DukeMTMC-reID train images forwarded in train mode before
# every iteration (TargetBNAdaptHook, no loss) so that BatchNorm adapts to the
# target. Validation on the source test set, as in MMT. Train it twice, with
# seeds 1 and 2:
#   tools/mmt_pretrain.sh configs/mmt/mmt_pretrain_r50_market2duke.py \
#       work_dirs/mmt_pretrain_r50_market2duke
#
# Expected: 29.6 / 46.0 / 61.5 / 67.2 (mAP / R1 / R5 / R10), the direct
# transfer to DukeMTMC-reID (METHODS.md §7.4). Not reproduced here (no data
# set or GPU on reidkit's CI).
_base_ = ['../baseline/supervised_r50_market1501.py']

# BatchNorm over groups of 16 images, as on each GPU of the paper's 4-GPU
# DataParallel (batch 64; METHODS.md §9.1; docs/distributed.md).
model = dict(bn_samples=16)

custom_hooks = [
    dict(
        type='TargetBNAdaptHook',
        dataloader=dict(
            batch_size=64,
            num_workers=4,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(
                type='DukeMTMCreID', data_root='data/dukemtmcreid',
                split='train',
                pipeline={{_base_.train_pipeline}}))),
]
