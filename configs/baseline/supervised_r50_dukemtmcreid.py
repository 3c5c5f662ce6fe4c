# Supervised baseline on DukeMTMC-reID (702 training identities), same
# recipe as supervised_r50_market1501.py (MMT source pre-training,
# METHODS.md §3.1).
#
# Expected: no in-domain number is published for this recipe; MMT reports
# its Duke->Market direct transfer as 31.8 mAP / 61.9 rank-1 (§7.4).
# Not reproduced here (no DukeMTMC-reID or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/resnet50_bnneck.py',
    '../_base_/datasets/dukemtmcreid.py',
    '../_base_/schedules/adam_warmup_80e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=702))
train_dataloader = dict(
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=100))
