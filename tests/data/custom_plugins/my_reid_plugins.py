"""A user's own components, outside the reidkit package.

Registered into reidkit's registries; a config imports this module with
``custom_imports`` and names the classes by string.
"""
import numpy as np
import torch
import torch.nn as nn

from reidkit.registry import CLUSTERERS, MODELS


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
