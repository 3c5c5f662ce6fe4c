"""Global pooling layers: (B, C, H, W) -> (B, C)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from reidkit.registry import MODELS


@MODELS.register_module()
class AvgPooling(nn.Module):
    """Global average pooling (the papers' "GAP")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


@MODELS.register_module()
class GeMPooling(nn.Module):
    r"""Generalised-mean pooling (Radenović et al., TPAMI 2018).

    .. math:: y_c = \Big(\frac{1}{HW}\sum_{h,w} \max(x_{chw}, \epsilon)^p
              \Big)^{1/p}

    p = 1 is average pooling, p -> inf max pooling. Cluster Contrast's code
    default: p = 3, learnable, eps = 1e-6.

    Args:
        p (float): Initial exponent. Defaults to 3.0.
        learnable (bool): Train p. Defaults to True.
        eps (float): Lower clamp of the activations. Defaults to 1e-6.
    """

    def __init__(self, p: float = 3.0, learnable: bool = True,
                 eps: float = 1e-6) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f'GeM exponent p must be > 0, got {p}.')
        self.p = nn.Parameter(torch.tensor([float(p)]),
                              requires_grad=learnable)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p).flatten(1)

    def extra_repr(self) -> str:
        return f'p={self.p.item():.4f}, eps={self.eps}'
