# Cluster Contrast (USL) on DukeMTMC-reID: ResNet-50 (ImageNet) + GAP +
# BN-neck, the paper's settings (METHODS.md §2.4): batch 256 = 16 pseudo
# identities x K 16, 200 iterations per epoch, 50 epochs, Adam 3.5e-4 /
# wd 5e-4, x0.1 every 20 epochs; every epoch DBSCAN (eps 0.6, min_samples 4)
# on the Jaccard distance (k1 30, k2 6); memory tau 0.05, m 0.1, 'mean' (CM)
# update.
#
# Expected: 72.6 / 84.9 / 91.9 / 93.9 (METHODS.md §7.1).
# Not reproduced here (no data set or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/cluster_contrast_r50.py',
    '../_base_/datasets/dukemtmcreid.py',
    '../_base_/cluster_contrast_usl.py',
    '../_base_/schedules/cc_adam_50e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=256,
    sampler=dict(
        type='IdentitySampler', num_instances=16, iters_per_epoch=200))
