"""Positive / negative pair-distance statistics of trained models.

For each training work directory (its dumped config and ``last_checkpoint``)
this extracts the retrieval embeddings of the train set and of the test set
(query + gallery) and reports, for the pairs defined by the ground-truth
identities (and, on the train set, by the model's last pseudo labels): the
mean and standard deviation of the positive and of the negative pair
distances (Euclidean, L2-normalised embeddings, as GDS measures them), the
Bhattacharyya overlap of the two fitted Gaussians and the fraction of pairs
on the wrong side of their midpoint. Work directories named
``<variant>_seed<S>`` are also averaged per variant.

    python tools/analysis/gds_pair_stats.py work_dirs/gds/ablation/*_seed*

This is how docs/gds.md compares what GDS does to the *pseudo-label* pairs it
trains on with what happens to the true-identity pairs that retrieval needs.
"""
import argparse
import glob
import os.path as osp
import re
import statistics

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from reidkit.engine.hooks import PseudoLabelHook
from reidkit.engine.hooks.gds_stats_hook import (bhattacharyya_coefficient,
                                                 wrong_side_fraction)
from reidkit.models.losses.gds import pair_distances
from reidkit.registry import MODELS
from reidkit.utils import register_all_modules


def _config_and_checkpoint(work_dir: str):
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    pointer = osp.join(work_dir, 'last_checkpoint')
    if len(configs) != 1 or not osp.isfile(pointer):
        raise FileNotFoundError(
            f'{work_dir} must hold exactly one dumped config (*.py) and a '
            f'last_checkpoint file, as a finished tools/train.py or '
            f'tools/demo.py run leaves; found {configs} and '
            f'{"a" if osp.isfile(pointer) else "no"} last_checkpoint.')
    with open(pointer) as f:
        return configs[0], f.read().strip()


@torch.no_grad()
def _extract(model, loader):
    feats, pids, idxs = [], [], []
    for data in loader:
        data = model.data_preprocessor(data, False)
        feats.append(model(data['inputs'], mode='tensor').float())
        pids += [s.gt_pid for s in data['data_samples']]
        idxs += [s.sample_idx for s in data['data_samples']]
    order = np.argsort(idxs)
    return torch.cat(feats)[order], torch.as_tensor(pids)[order]


def pair_stats(feats: torch.Tensor, labels: torch.Tensor) -> dict:
    """Moments, overlap and wrong-side fraction of the labelled pairs."""
    d = pair_distances(feats, labels)
    pos, neg = d['pos'].numpy(), d['neg'].numpy()
    stats = dict(mu_pos=float(pos.mean()), sigma_pos=float(pos.std()),
                 mu_neg=float(neg.mean()), sigma_neg=float(neg.std()))
    stats['overlap'] = bhattacharyya_coefficient(*stats.values())
    stats['wrong_side'] = wrong_side_fraction(
        pos, neg, (stats['mu_pos'] + stats['mu_neg']) / 2)
    return stats


def analyse(work_dir: str) -> dict:
    config, checkpoint = _config_and_checkpoint(work_dir)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    out = {}
    train_loader = Runner.build_dataloader(
        dict(PseudoLabelHook.default_dataloader_cfg(cfg),
             sampler=dict(type='DefaultSampler', shuffle=False)))
    feats, pids = _extract(model, train_loader)
    out['train, true identities'] = pair_stats(feats, pids)
    pseudo = getattr(model, 'pseudo_labels', None)
    if pseudo is not None and len(pseudo) == len(feats):
        out['train, pseudo labels'] = pair_stats(feats, pseudo)
    test_loader = Runner.build_dataloader(cfg.test_dataloader)
    out['test, true identities'] = pair_stats(*_extract(model, test_loader))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    args = parser.parse_args()
    register_all_modules()
    per_variant = {}
    header = ('| run | pairs | mu+ | sigma+ | mu- | sigma- | overlap | '
              'wrong side |\n|---|---|---|---|---|---|---|---|')
    print(header)
    for work_dir in args.work_dirs:
        name = osp.basename(osp.normpath(work_dir))
        variant = re.sub(r'_seed\d+$', '', name)
        for pairs, s in analyse(work_dir).items():
            print(f'| {name} | {pairs} | {s["mu_pos"]:.3f} | '
                  f'{s["sigma_pos"]:.3f} | {s["mu_neg"]:.3f} | '
                  f'{s["sigma_neg"]:.3f} | {s["overlap"]:.3f} | '
                  f'{100 * s["wrong_side"]:.1f}% |', flush=True)
            per_variant.setdefault((variant, pairs), []).append(s)
    print('\nMean over seeds:\n')
    print(header.replace('| run |', '| variant (seeds) |'))
    for (variant, pairs), runs in per_variant.items():
        mean = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        print(f'| {variant} ({len(runs)}) | {pairs} | {mean["mu_pos"]:.3f} '
              f'| {mean["sigma_pos"]:.3f} | {mean["mu_neg"]:.3f} | '
              f'{mean["sigma_neg"]:.3f} | {mean["overlap"]:.3f} | '
              f'{100 * mean["wrong_side"]:.1f}% |')


if __name__ == '__main__':
    main()
