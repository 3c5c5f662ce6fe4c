default_scope = 'reidkit'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a checkpoint every epoch (written atomically by reidkit's
    # CheckpointHook), so a crash loses at most the current epoch
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # re-seed python/numpy/torch (and the dataloader workers) from
    # (seed, epoch, rank) before every epoch: a resumed run draws the same
    # random numbers as an uninterrupted one
    epoch_seed=dict(type='EpochSeedHook'),
    # on resume, redo the validation that followed the checkpoint (it ran
    # after the checkpoint was written: MMT's best teacher, best score)
    resume_val=dict(type='ResumeValHook'),
    # distributed runs: average BN running statistics over the ranks
    sync_bn_stats=dict(type='SyncBNStatsHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=1, deterministic=False)
