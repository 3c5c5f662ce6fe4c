# GDS-H plugged into MMT, duke -> market
# (configs/mmt/mmt_r50_duke2market_k500.py plus one GDSLoss per student on its
# BN-neck features with the pseudo labels, and the GDSStatsHook). beta,
# lambda_sigma, lambda_h and kappa are not published; the values are
# provisional until the synthetic sweep of docs/gds.md is run.
#
# Expected: no published number; compare with the MMT config's own result. Not
# reproduced here (no data set or GPU on reidkit's CI).
_base_ = ['../mmt/mmt_r50_duke2market_k500.py']

model = dict(
    pair_losses=dict(
        gds=dict(
            type='GDSLoss', momentum=0.9, lambda_sigma=1.0, lambda_h=1.0,
            kappa=1.0)))
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        clusterer=dict(
            type='KMeans', num_clusters=500, backend='sklearn',
            normalize=False)),
    dict(type='MeanTeacherHook'),
    dict(type='OptimizerResetHook'),
    dict(type='GDSStatsHook', hist_interval=5),
]
