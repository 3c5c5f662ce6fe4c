# GDS (lambda_h = 0) plugged into Cluster Contrast on the synthetic set; see
# gds_h_cc_r18_synthetic.py.
_base_ = ['./gds_h_cc_r18_synthetic.py']

model = dict(pair_losses=dict(gds=dict(lambda_h=0.0)))
