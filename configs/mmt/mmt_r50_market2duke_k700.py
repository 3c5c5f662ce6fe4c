# MMT stage II, Market-1501 -> DukeMTMC-reID, k-means with K = 700 (METHODS.md
# §3.2): every epoch k-means (sklearn, as MMT) on the average of the two mean
# teachers' features (not re-normalised), all four classifiers re-initialised
# from the normalised centroids, Adam state cleared; 40 epochs x 400
# iterations of 64 = 16 x 4 images, two augmented views per image. Needs the
# two stage-I checkpoints of mmt_pretrain_r50_market2duke.py.
#
# Expected: 65.1 / 78.0 / 88.8 / 92.5 (mAP / R1 / R5 / R10, ResNet-50,
# METHODS.md §7.4). Not reproduced here (no data set or GPU on reidkit's CI).
_base_ = ['./mmt_r50_market2duke_k500.py']

model = dict(num_classes=700)
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        clusterer=dict(
            type='KMeans', num_clusters=700, backend='sklearn',
            normalize=False)),
    dict(type='MeanTeacherHook'),
    dict(type='OptimizerResetHook'),
]
