# GDS-H plugged into Cluster Contrast on the synthetic set: the demo config
# (configs/cluster_contrast/cc_r18_synthetic.py) plus GDSLoss on the
# L2-normalised BN-neck features with the pseudo labels, and the
# GDSStatsHook. Provisional hyper-parameters (see
# gds_h_triplet_r18_synthetic.py).
_base_ = ['../cluster_contrast/cc_r18_synthetic.py']

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
