# GDS-H on the triplet host (triplet_r18_synthetic.py): the batch's positive
# and negative pair distances of the L2-normalised BN-neck features, global
# Gaussians tracked with momentum beta, L = Softplus(mu+ - mu-)
# + lambda_sigma (var+ + var-) + lambda_h Softplus((mu+ + kappa sigma+)
# - (mu- - kappa sigma-)) (METHODS.md §6). beta, lambda_sigma, lambda_h and
# kappa are not published: the values below are provisional defaults until
# the sweep of docs/gds.md is run.
_base_ = ['./triplet_r18_synthetic.py']

model = dict(
    pair_losses=dict(
        gds=dict(
            type='GDSLoss', momentum=0.9, lambda_sigma=1.0, lambda_h=1.0,
            kappa=1.0)))
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        clusterer=dict(type='DBSCAN', eps=0.5, min_samples=4, k1=30, k2=6),
        camera_normalize=True),
    dict(type='GDSStatsHook', hist_interval=4),
]
