import numpy as np
import pytest

from reidkit.evaluation import cluster_statistics, pseudo_label_quality


def test_pairwise_scores_and_ari_by_hand():
    gt = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 1, -1]  # the outlier counts as a singleton
    q = pseudo_label_quality(pred, gt)
    # Pairs in one cluster: C(2,2)+C(3,2) = 4; of those sharing an identity
    # (gt0∩c0: 1 pair, gt1∩c1: 1 pair) = 2 -> precision 0.5.
    # Pairs sharing an identity: C(3,2)+C(2,2) = 4 -> recall 2/4.
    assert q['pairwise_precision'] == pytest.approx(0.5)
    assert q['pairwise_recall'] == pytest.approx(0.5)
    assert q['pairwise_f1'] == pytest.approx(0.5)
    # ARI = (2 - 4*4/15) / ((4+4)/2 - 4*4/15).
    assert q['ari'] == pytest.approx((2 - 16 / 15) / (4 - 16 / 15))
    assert 0 < q['nmi'] < 1


def test_perfect_and_all_outliers():
    gt = np.array([3, 3, 5, 5, 7])
    q = pseudo_label_quality([1, 1, 0, 0, 2], gt)
    assert q['nmi'] == pytest.approx(1.0)
    assert q['ari'] == pytest.approx(1.0)
    assert q['pairwise_precision'] == q['pairwise_recall'] == 1.0
    q = pseudo_label_quality([-1] * 5, gt)
    assert q['pairwise_recall'] == 0.0
    assert q['pairwise_precision'] == 0.0


def test_cluster_statistics():
    s = cluster_statistics([0, 0, 1, 1, 1, -1, 2, 2, 2, 2])
    assert s['num_clusters'] == 3
    assert s['num_outliers'] == 1
    assert s['outlier_ratio'] == pytest.approx(0.1)
    assert (s['size_min'], s['size_median'], s['size_max']) == (2, 3, 4)
    assert s['size_mean'] == pytest.approx(3.0)
    assert s['largest_ratio'] == pytest.approx(4 / 9)
    assert s['size_hist']['1'] == 0
    assert s['size_hist']['2-3'] == 2
    assert s['size_hist']['4-7'] == 1
    empty = cluster_statistics([-1, -1])
    assert empty['num_clusters'] == 0 and empty['outlier_ratio'] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match='same length'):
        pseudo_label_quality([0, 1], [0])
    with pytest.raises(ValueError, match='-1'):
        cluster_statistics([0, -2])
