"""Tests for :func:`reidkit.evaluation.functional.re_ranking`."""
import numpy as np
import pytest
import torch

from reidkit.evaluation import re_ranking


def _euclidean(a, b):
    return np.sqrt(
        np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T,
                   0))


def _dists(qf, gf):
    return _euclidean(qf, gf), _euclidean(qf, qf), _euclidean(gf, gf)


def slow_re_ranking(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
    """Straightforward loop version of the k-reciprocal re-ranking.

    Mirrors the structure of the authors' reference implementation (dense
    V, full argsort, per-image loops), without squaring the inputs.
    """
    num_q = q_g.shape[0]
    num_all = num_q + q_g.shape[1]
    dist = np.concatenate([
        np.concatenate([q_q, q_g], axis=1),
        np.concatenate([q_g.T, g_g], axis=1)
    ]).astype(np.float32)
    orig = np.transpose(dist / np.max(dist, axis=0))
    rank = np.argsort(orig, axis=1, kind='stable')

    def k_recip(i, k):
        fwd = rank[i, :k + 1]
        return np.array([j for j in fwd if i in rank[j, :k + 1]],
                        dtype=np.int64)

    V = np.zeros((num_all, num_all), dtype=np.float64)
    for i in range(num_all):
        r = k_recip(i, k1)
        expansion = list(r)
        for c in r:
            rc = k_recip(c, int(np.around(k1 / 2.)))
            if len(np.intersect1d(rc, r)) > 2. / 3 * len(rc):
                expansion.extend(rc)
        expansion = np.unique(expansion)
        w = np.exp(-orig[i, expansion].astype(np.float64))
        V[i, expansion] = w / w.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(0) for i in range(num_all)])
    jaccard = np.zeros((num_q, num_all))
    for i in range(num_q):
        for j in range(num_all):
            m = np.minimum(V[i], V[j]).sum()
            jaccard[i, j] = 1 - m / (2 - m)
    final = jaccard * (1 - lambda_value) + orig[:num_q] * lambda_value
    return final[:, num_q:]


@pytest.mark.parametrize('seed,k1,k2,lam', [(0, 20, 6, 0.3), (1, 5, 3, 0.3),
                                            (2, 4, 1, 0.5), (3, 7, 2, 0.0),
                                            (4, 3, 6, 0.8)])
def test_matches_slow_reference(seed, k1, k2, lam):
    rng = np.random.default_rng(seed)
    # clustered features so that k-reciprocal sets are non-trivial
    centres = rng.standard_normal((5, 8))
    qf = centres[rng.integers(0, 5, 8)] + 0.5 * rng.standard_normal((8, 8))
    gf = centres[rng.integers(0, 5, 20)] + 0.5 * rng.standard_normal((20, 8))
    q_g, q_q, g_g = _dists(qf, gf)
    out = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    ref = slow_re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    assert out.shape == (8, 20) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_lambda_one_returns_normalised_original():
    rng = np.random.default_rng(0)
    qf, gf = rng.standard_normal((6, 4)), rng.standard_normal((15, 4))
    q_g, q_q, g_g = _dists(qf, gf)
    out = re_ranking(q_g, q_q, g_g, k1=5, k2=3, lambda_value=1.0)
    # O = q_g divided by each query's largest distance to any image
    row_max = np.maximum(q_q.max(0), q_g.max(1))
    np.testing.assert_allclose(out, q_g / row_max[:, None], rtol=1e-6)
    # same ranking as the input distances
    np.testing.assert_array_equal(
        np.argsort(out, 1, kind='stable'), np.argsort(q_g, 1, kind='stable'))


def test_torch_inputs_and_no_squaring():
    rng = np.random.default_rng(1)
    qf, gf = rng.standard_normal((5, 4)), rng.standard_normal((12, 4))
    q_g, q_q, g_g = _dists(qf, gf)
    out_np = re_ranking(q_g, q_q, g_g, k1=4, k2=2)
    out_t = re_ranking(
        torch.from_numpy(q_g),
        torch.from_numpy(q_q),
        torch.from_numpy(g_g),
        k1=4,
        k2=2)
    np.testing.assert_allclose(out_np, out_t, atol=1e-6)
    # squaring the inputs is the caller's choice and changes the result
    out_sq = re_ranking(q_g**2, q_q**2, g_g**2, k1=4, k2=2)
    assert not np.allclose(out_np, out_sq)
    np.testing.assert_allclose(
        out_sq, slow_re_ranking(q_g**2, q_q**2, g_g**2, k1=4, k2=2), atol=1e-5)


def test_reranking_fixes_a_ranking():
    """The k-reciprocal neighbourhood pulls the true match above a
    distractor that is nearer to the query but belongs to a tight cluster of
    its own (so the query is not among the distractor's neighbours).

    1-D features: the query (identity A) at 0; A's gallery images at
    1.0-1.3, spread so that they and the query are mutual neighbours; a
    distractor at -0.9 sitting next to a dense cluster of 6 images of
    identity B around -1.5.
    """
    qf = np.array([[0.0]])
    a = [1.0, 1.1, 1.2, 1.3]
    b = [-1.5, -1.52, -1.54, -1.56, -1.58, -1.6]
    gf = np.array([[-0.9]] + [[x] for x in a] + [[x] for x in b])
    q_g, q_q, g_g = _dists(qf, gf)
    assert np.argmin(q_g[0]) == 0  # distractor is nearest before
    out = re_ranking(q_g, q_q, g_g, k1=4, k2=1, lambda_value=0.3)
    assert np.argmin(out[0]) == 1  # identity A's closest image now wins
    assert (out[0, 1:5] < out[0, 0]).all()  # all of A ahead of it
    np.testing.assert_allclose(
        out, slow_re_ranking(q_g, q_q, g_g, k1=4, k2=1), atol=1e-5)


def test_larger_k_than_images():
    rng = np.random.default_rng(2)
    qf, gf = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    q_g, q_q, g_g = _dists(qf, gf)
    out = re_ranking(q_g, q_q, g_g, k1=20, k2=10)
    np.testing.assert_allclose(
        out, slow_re_ranking(q_g, q_q, g_g, k1=20, k2=10), atol=1e-5)


def test_errors():
    q_g, q_q, g_g = np.ones((2, 3)), np.ones((2, 2)), np.ones((3, 3))
    with pytest.raises(ValueError, match='q_q_dist'):
        re_ranking(q_g, np.ones((3, 3)), g_g)
    with pytest.raises(ValueError, match='g_g_dist'):
        re_ranking(q_g, q_q, np.ones((2, 2)))
    bad = q_g.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='non-finite'):
        re_ranking(bad, q_q, g_g)
    with pytest.raises(ValueError, match='lambda_value'):
        re_ranking(q_g, q_q, g_g, lambda_value=1.5)
    with pytest.raises(ValueError, match='k1'):
        re_ranking(q_g, q_q, g_g, k1=0)
