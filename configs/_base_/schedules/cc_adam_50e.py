# Cluster Contrast schedule (METHODS.md §2.4): Adam 3.5e-4, wd 5e-4, one
# optimiser for the whole run, x0.1 every 20 epochs, 50 epochs, no warm-up;
# test-set evaluation every 10 epochs (the papers' model selection; reidkit
# reports the last epoch).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='StepLR', step_size=20, gamma=0.1, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=10)
val_cfg = dict()
test_cfg = dict()
