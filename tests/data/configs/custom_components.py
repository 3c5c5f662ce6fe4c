# Uses components registered in tests/data/custom_plugins/my_reid_plugins.py
# (a module outside reidkit, importable from PYTHONPATH).
custom_imports = dict(imports=['my_reid_plugins'], allow_failed_imports=False)
default_scope = 'reidkit'

model = dict(
    type='SupervisedReID',
    backbone=dict(type='TinyConvNet', width=8),
    neck=dict(type='BNNeck', pooling=dict(type='GeMPooling')),
    head=dict(
        type='IdentityClsHead',
        num_classes=4,
        loss_triplet=dict(type='CenterPullLoss', loss_weight=0.5)))
clusterer = dict(type='ThresholdClusterer', thr=0.95, min_size=2)
