"""Commit, log and draw GDS's global distance statistics."""
import math
from typing import Dict, List, Tuple

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from reidkit.models.losses import GDSLoss
from reidkit.registry import HOOKS


def bhattacharyya_coefficient(mu1: float, sigma1: float, mu2: float,
                              sigma2: float, eps: float = 1e-12) -> float:
    r"""Overlap of two 1-D Gaussians, in [0, 1] (1 = identical).

    :math:`BC = e^{-D_B}`, :math:`D_B = \frac{(\mu_1-\mu_2)^2}
    {4(\sigma_1^2+\sigma_2^2)} + \frac12\ln\frac{\sigma_1^2+\sigma_2^2}
    {2\sigma_1\sigma_2}`.
    """
    v1, v2 = sigma1**2 + eps, sigma2**2 + eps
    d_b = ((mu1 - mu2)**2 / (4 * (v1 + v2)) + 0.5 * math.log(
        (v1 + v2) / (2 * math.sqrt(v1 * v2))))
    return math.exp(-d_b)


def wrong_side_fraction(pos: np.ndarray, neg: np.ndarray,
                        midpoint: float) -> float:
    """Fraction of pairs on the wrong side of ``midpoint``: positives
    farther than it and negatives closer than it."""
    total = len(pos) + len(neg)
    if total == 0:
        return float('nan')
    return float(((pos > midpoint).sum() + (neg < midpoint).sum()) / total)


def draw_histograms(pos: np.ndarray, neg: np.ndarray, moments: dict,
                    title: str, bins: int = 60) -> np.ndarray:
    """Histograms of the positive and negative pair distances with the
    fitted global Gaussians, as an RGB uint8 image."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    hi = max([2.0] + [float(a.max()) for a in (pos, neg) if len(a)])
    edges = np.linspace(0, hi, bins + 1)
    grid = np.linspace(0, hi, 400)
    for side, data, color in (('pos', pos, 'tab:green'),
                              ('neg', neg, 'tab:red')):
        label = 'positive' if side == 'pos' else 'negative'
        if len(data):
            ax.hist(data, bins=edges, density=True, alpha=0.45, color=color,
                    label=f'{label} pairs ({len(data)})')
        mu, sigma = moments[f'mu_{side}'], max(moments[f'sigma_{side}'],
                                               1e-6)
        ax.plot(grid,
                np.exp(-0.5 * ((grid - mu) / sigma)**2) /
                (sigma * math.sqrt(2 * math.pi)),
                color=color,
                lw=1.5,
                label=f'global N({mu:.3f}, {sigma:.3f}²)')
    ax.set_xlabel('distance (L2-normalised embeddings)')
    ax.set_ylabel('density')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


@HOOKS.register_module()
class GDSStatsHook(Hook):
    """Commit GDS's momentum updates; log and draw the distributions.

    * after every iteration: :meth:`GDSLoss.commit` of every ``GDSLoss`` in
      the model (the global moments are buffers, so they are in every
      checkpoint), and collects the batch's pair distances (up to
      ``max_pairs`` per epoch);
    * after every epoch: logs, for every GDS loss, the global
      :math:`\\mu^\\pm, \\sigma^\\pm`, the Bhattacharyya coefficient of
      the two Gaussians (their overlap, 0 = separated) and the fraction of
      the epoch's pairs on the wrong side of the midpoint
      :math:`(\\mu^+ + \\mu^-)/2`, also as ``gds/*`` scalars;
    * every ``hist_interval`` epochs (and after the last): draws the
      epoch's positive and negative distance histograms with the fitted
      Gaussians to the visualizer backends (``LocalVisBackend`` writes a
      PNG under ``vis_data/vis_image/``).

    Args:
        hist_interval (int): Draw every this many epochs. Defaults to 5.
        max_pairs (int): Pairs kept per epoch and side for the histograms
            and the wrong-side fraction. Defaults to 200,000.
        bins (int): Histogram bins. Defaults to 60.
    """

    priority = 'NORMAL'

    def __init__(self,
                 hist_interval: int = 5,
                 max_pairs: int = 200_000,
                 bins: int = 60) -> None:
        if hist_interval < 1:
            raise ValueError(
                f'hist_interval must be >= 1, got {hist_interval}.')
        self.hist_interval = hist_interval
        self.max_pairs = max_pairs
        self.bins = bins
        self.losses: List[Tuple[str, GDSLoss]] = []
        self._pairs: Dict[str, Dict[str, list]] = {}
        #: The statistics of the last epoch, per GDS loss.
        self.last_stats: Dict[str, Dict[str, float]] = {}

    def before_train(self, runner: Runner) -> None:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        self.losses = [(name or 'gds', m) for name, m in model.named_modules()
                       if isinstance(m, GDSLoss)]
        if not self.losses:
            raise TypeError(
                'GDSStatsHook found no GDSLoss in the model; add one with '
                "model.pair_losses=dict(gds=dict(type='GDSLoss', ...)).")

    def before_train_epoch(self, runner: Runner) -> None:
        self._pairs = {
            name: dict(pos=[], neg=[], n_pos=0, n_neg=0)
            for name, _ in self.losses
        }

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        for name, loss in self.losses:
            loss.commit()
            store = self._pairs.get(name)
            if store is None:
                continue
            for side in ('pos', 'neg'):
                d = loss.last_distances.get(side)
                room = self.max_pairs - store[f'n_{side}']
                if d is None or room <= 0 or not len(d):
                    continue
                store[side].append(d[:room].numpy())
                store[f'n_{side}'] += min(room, len(d))

    def after_train_epoch(self, runner: Runner) -> None:
        epoch = runner.epoch + 1
        draw = (epoch % self.hist_interval == 0
                or epoch == runner.max_epochs)
        for name, loss in self.losses:
            if not (bool(loss.seen_pos) and bool(loss.seen_neg)):
                continue
            m = loss.global_moments()
            store = self._pairs.get(name, {})
            pos = np.concatenate(store.get('pos') or [np.zeros(0)])
            neg = np.concatenate(store.get('neg') or [np.zeros(0)])
            overlap = bhattacharyya_coefficient(m['mu_pos'], m['sigma_pos'],
                                                m['mu_neg'], m['sigma_neg'])
            wrong = wrong_side_fraction(pos, neg,
                                        (m['mu_pos'] + m['mu_neg']) / 2)
            stats = dict(m, overlap=overlap, wrong_side=wrong)
            self.last_stats[name] = stats
            print_log(
                f'GDS {name} after epoch {epoch}: positives mu '
                f'{m["mu_pos"]:.4f} sigma {m["sigma_pos"]:.4f}, negatives '
                f'mu {m["mu_neg"]:.4f} sigma {m["sigma_neg"]:.4f}; '
                f'Bhattacharyya overlap {overlap:.4f}; {100 * wrong:.2f}% of '
                f'the epoch\'s {len(pos) + len(neg)} pairs on the wrong side '
                'of the midpoint',
                logger='current')
            tag = name.replace('.', '_')
            runner.visualizer.add_scalars(
                {f'gds/{tag}/{k}': v
                 for k, v in stats.items()}, step=epoch)
            if draw:
                img = draw_histograms(
                    pos, neg, m, f'{name}, epoch {epoch}: overlap '
                    f'{overlap:.3f}, wrong side {100 * wrong:.1f}%',
                    self.bins)
                runner.visualizer.add_image(
                    f'gds_{tag}_distances', img, step=epoch)
