# Supervised baseline on MSMT17_V1 (list_train + list_val: 1,041 training
# identities, 32,621 images), same recipe as supervised_r50_market1501.py
# (MMT source pre-training, METHODS.md §3.1).
#
# Expected: no in-domain number is published for this recipe.
# Not reproduced here (no MSMT17 or GPU on reidkit's CI).
_base_ = [
    '../_base_/models/resnet50_bnneck.py',
    '../_base_/datasets/msmt17.py',
    '../_base_/schedules/adam_warmup_80e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=1041))
train_dataloader = dict(
    sampler=dict(type='IdentitySampler', num_instances=4, iters_per_epoch=100),
    dataset=dict(version='V1', use_val_in_train=True))
val_dataloader = dict(dataset=dict(version='V1'))
test_dataloader = val_dataloader
