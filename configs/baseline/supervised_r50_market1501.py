# Supervised baseline on Market-1501: MMT's source-domain pre-training
# recipe (METHODS.md §3.1) — ResNet-50 (ImageNet), last stride 1, GAP,
# BN-neck; label-smoothed CE (0.1) + soft-margin batch-hard triplet; batch 64
# (P=16 x K=4), 256x128, no random erasing; Adam 3.5e-4, wd 5e-4, warm-up 10
# epochs, x0.1 at 40 and 70, 80 epochs x 100 iterations.
#
# Expected: no in-domain number is published for this exact recipe. The
# comparable supervised reference is fast-reid's BoT-R50 on Market-1501,
# 86.1 mAP / 94.4 rank-1 (1x V100); MMT reports the Market->Duke direct
# transfer of this pre-training as 29.6 mAP / 46.0 rank-1 (§7.4).
# Not reproduced here (no Market-1501 or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/resnet50_bnneck.py',
    '../_base_/datasets/market1501.py',
    '../_base_/schedules/adam_warmup_80e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=751))
train_dataloader = dict(
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=100))
