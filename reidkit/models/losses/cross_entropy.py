import torch
import torch.nn as nn
import torch.nn.functional as F

from reidkit.registry import MODELS


@MODELS.register_module()
class CrossEntropyLabelSmooth(nn.Module):
    r"""Cross-entropy with label smoothing (Szegedy et al., CVPR 2016).

    .. math:: \mathcal L = -\frac1B\sum_i\sum_k q_{ik}\log\sigma(z_i)_k,
              \quad q = (1-\epsilon)\,\mathrm{onehot}(y) + \epsilon/K

    with K the number of classes (the re-ID papers' ``CrossEntropyLabelSmooth``
    with epsilon = 0.1).

    Args:
        epsilon (float): Smoothing. Defaults to 0.1.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, epsilon: float = 0.1, loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= epsilon < 1:
            raise ValueError(f'epsilon must be in [0, 1), got {epsilon}.')
        self.epsilon = epsilon
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        num_classes = logits.size(1)
        if targets.numel() and (targets.min() < 0
                                or targets.max() >= num_classes):
            raise ValueError(
                f'CrossEntropyLabelSmooth: labels must be in [0, '
                f'{num_classes}), got [{int(targets.min())}, '
                f'{int(targets.max())}]. Does num_classes match the '
                'number of training identities?')
        log_probs = F.log_softmax(logits, dim=1)
        nll = -log_probs.gather(1, targets[:, None]).squeeze(1)
        uniform = -log_probs.mean(dim=1)
        loss = (1 - self.epsilon) * nll + self.epsilon * uniform
        return self.loss_weight * loss.mean()
