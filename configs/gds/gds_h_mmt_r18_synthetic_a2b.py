# GDS-H plugged into MMT on reidkit's synthetic set, style A -> style B
# (configs/mmt/mmt_r18_synthetic_a2b.py, which needs the two stage-I models
# of configs/mmt/mmt_pretrain_r18_synthetic_a2b.py), plus one GDSLoss per
# student on its BN-neck features with the k-means pseudo labels, and the
# GDSStatsHook. beta, lambda_sigma, lambda_h and kappa: the values chosen by
# the synthetic sweep on the triplet host (docs/gds.md).
#
# Not part of the measured ablation (docs/gds.md covers the triplet and
# Cluster Contrast hosts); MMT alone scores 44.3 mAP on this setting.
_base_ = ['../mmt/mmt_r18_synthetic_a2b.py']

model = dict(
    pair_losses=dict(
        gds=dict(
            type='GDSLoss', momentum=0.9, lambda_sigma=0.1, lambda_h=0.1,
            kappa=1.0)))
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        clusterer=dict(
            type='KMeans', num_clusters=100, backend='sklearn',
            normalize=False, seed=0),
        camera_normalize=True),
    dict(type='MeanTeacherHook'),
    dict(type='OptimizerResetHook'),
    dict(type='GDSStatsHook', hist_interval=5),
]
