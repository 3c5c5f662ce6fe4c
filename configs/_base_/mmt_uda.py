# MMT stage II training loop (METHODS.md §3.2-3.4): two augmented views of
# every image, batch 64 = 16 pseudo identities x 4 (leaf configs set the
# dataloader), 40 epochs x 400 iterations, Adam 3.5e-4 / wd 5e-4 with a
# constant learning rate and its state cleared every epoch (MMT builds a new
# optimiser every epoch), both mean teachers evaluated every epoch and the
# better one kept (CheckpointHook on best/mAP). Leaf configs add the
# PseudoLabelHook with their clusterer.
_base_ = ['./default_runtime.py']

mmt_train_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=2,
        transforms=[
            dict(type='mmcv.Resize', scale=(128, 256), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='RandomPadCrop', padding=10),
        ]),
    dict(type='PackReIDInputs'),
]

# Both teachers' metrics (teacher1/*, teacher2/*); the dataset bases own
# val_evaluator, so leaf configs set val_evaluator = mmt_val_evaluator.
# test_evaluator stays a plain ReIDMetric: the selected teacher.
mmt_val_evaluator = [
    dict(type='ReIDMetric', prefix='teacher1', feature_key='pred_feature_t1'),
    dict(type='ReIDMetric', prefix='teacher2', feature_key='pred_feature_t2'),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=2,
        save_best='best/mAP', rule='greater'))
