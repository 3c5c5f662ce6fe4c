"""A user's own components, outside the reidkit package.

Registered into reidkit's registries; a config imports this module with
``custom_imports`` and names the classes by string.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from sklearn.metrics import adjusted_rand_score

from reidkit.registry import CLUSTERERS, HOOKS, MODELS


@MODELS.register_module()
class TinyConvNet(nn.Module):
    """A two-layer conv backbone."""

    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, stride=2, padding=1), nn.ReLU())
        self.out_channels = width * 2

    def forward(self, x):
        return self.body(x)


@MODELS.register_module()
class CenterPullLoss(nn.Module):
    """Mean squared distance of each feature to its identity's mean."""

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, feats, targets):
        loss = feats.new_zeros(())
        for t in targets.unique():
            group = feats[targets == t]
            loss = loss + (group - group.mean(0)).pow(2).sum(1).mean()
        return self.loss_weight * loss / len(targets.unique())


@CLUSTERERS.register_module()
class ThresholdClusterer:
    """Connected components of the graph {cosine similarity >= thr};
    components smaller than ``min_size`` are outliers (-1)."""

    def __init__(self, thr=0.9, min_size=2):
        self.thr, self.min_size = thr, min_size

    def fit_predict(self, features):
        f = torch.nn.functional.normalize(torch.as_tensor(features), dim=1)
        adj = (f @ f.t() >= self.thr).numpy()
        labels = -np.ones(len(f), dtype=np.int64)
        next_label = 0
        for seed in range(len(f)):
            if labels[seed] != -1:
                continue
            stack, members = [seed], []
            labels[seed] = next_label
            while stack:
                i = stack.pop()
                members.append(i)
                for j in np.flatnonzero(adj[i] & (labels == -1)):
                    labels[j] = next_label
                    stack.append(j)
            if len(members) < self.min_size:
                labels[members] = -2
            else:
                next_label += 1
        labels[labels == -2] = -1
        return labels


@MODELS.register_module()
class CentroidMemory(nn.Module):
    """A cluster memory that holds the epoch's centroids unchanged (no
    momentum update) and scores them with a cosine-margin softmax.

    The memory contract (what ClusterContrast calls): ``feat_dim`` as an
    argument, ``reset(centroids)`` after every clustering,
    ``forward(feats, targets) -> loss`` and ``update(feats, targets)``
    after the loss. Keep the memory in a buffer so checkpoints hold it.
    """

    def __init__(self, feat_dim, temperature=0.05, margin=0.1):
        super().__init__()
        self.temperature, self.margin = temperature, margin
        self.register_buffer('features', torch.zeros(0, feat_dim))

    @property
    def num_clusters(self):
        return self.features.size(0)

    @torch.no_grad()
    def reset(self, centroids):
        self.features = F.normalize(centroids.float(), dim=1).to(
            self.features.device)

    def forward(self, feats, targets):
        logits = F.normalize(feats, dim=1) @ self.features.t()
        logits = logits - self.margin * F.one_hot(
            targets, self.num_clusters).to(logits)
        return F.cross_entropy(logits / self.temperature, targets)

    def update(self, feats, targets):
        pass  # the centroids stay fixed until the next clustering


@HOOKS.register_module()
class LabelChurnHook(Hook):
    """Logs how much the pseudo labels changed since the previous epoch
    (adjusted Rand index of consecutive labellings, outliers as
    singletons) as ``pseudo_label/ari_to_previous``."""

    priority = 'LOW'  # after the PseudoLabelHook (NORMAL) re-clusters

    def __init__(self):
        self.previous = None
        self.history = []

    def before_train_epoch(self, runner):
        labels = runner.model.pseudo_labels.cpu().numpy().copy()
        singles = labels < 0
        labels[singles] = labels.max() + 1 + np.arange(singles.sum())
        if self.previous is not None:
            ari = float(adjusted_rand_score(self.previous, labels))
            self.history.append(ari)
            runner.visualizer.add_scalars(
                {'pseudo_label/ari_to_previous': ari}, step=runner.epoch)
        self.previous = labels
