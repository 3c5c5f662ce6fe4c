# GDS (no hard-mining term, lambda_h = 0) on the triplet host
# (triplet_r18_synthetic.py); see gds_h_triplet_r18_synthetic.py for the loss
# and the hyper-parameters (lambda_h 0 here).
_base_ = ['./gds_h_triplet_r18_synthetic.py']

model = dict(pair_losses=dict(gds=dict(lambda_h=0.0)))
