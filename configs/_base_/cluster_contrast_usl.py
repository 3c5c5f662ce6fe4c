# Cluster Contrast's re-clustering (METHODS.md §2.1, §2.4): before every
# epoch, DBSCAN (eps 0.6, min_samples 4) on the k-reciprocal Jaccard
# distance (k1 30, k2 6) of the L2-normalised BN-neck features of the whole
# train set. The hook's default dataloader is the train dataset with the
# test dataloader's pipeline, batch size and workers. Configs using this
# file set the P x K sampler: batch 256 = 16 pseudo identities x K 16.
custom_hooks = [
    dict(
        type='PseudoLabelHook',
        interval=1,
        clusterer=dict(type='DBSCAN', eps=0.6, min_samples=4, k1=30, k2=6)),
]
