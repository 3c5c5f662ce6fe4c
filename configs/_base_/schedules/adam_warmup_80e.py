# MMT source pre-training schedule (METHODS.md §3.1): Adam 3.5e-4, wd 5e-4,
# linear warm-up from 0.01x over 10 epochs, x0.1 at epochs 40 and 70,
# 80 epochs; evaluated every 40 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10),
    dict(type='MultiStepLR', milestones=[40, 70], gamma=0.1, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=80, val_interval=40)
val_cfg = dict()
test_cfg = dict()
