"""Augmentations applied to a normalised batch by the data preprocessor."""
import math
from typing import Sequence

import torch

from reidkit.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class RandomErasing:
    """Random erasing (Zhong et al., AAAI 2020) as the re-ID papers apply it.

    Runs on the *normalised* batch, after the mean/std normalisation,
    exactly like the reference transform: with probability ``prob`` an
    image gets one rectangle of area ``U(sl, sh) * H * W`` and aspect ratio
    ``U(r1, 1/r1)`` (uniform, not log-uniform as in torchvision), found in
    up to 100 attempts, filled per channel with ``fill`` — the ImageNet mean
    values written into normalised space, not zero. Randomness comes from
    torch's global generator, which the Runner seeds.

    Args:
        prob (float): Probability per image. Defaults to 0.5.
        sl (float): Minimum erased area fraction. Defaults to 0.02.
        sh (float): Maximum erased area fraction. Defaults to 0.4.
        r1 (float): Minimum aspect ratio. Defaults to 0.3.
        fill (Sequence[float]): Value per channel (RGB). Defaults to
            (0.485, 0.456, 0.406).
    """

    def __init__(self,
                 prob: float = 0.5,
                 sl: float = 0.02,
                 sh: float = 0.4,
                 r1: float = 0.3,
                 fill: Sequence[float] = (0.485, 0.456, 0.406)) -> None:
        if not 0 <= prob <= 1 or not 0 < sl <= sh < 1 or not 0 < r1 <= 1:
            raise ValueError(
                'RandomErasing needs 0<=prob<=1, 0<sl<=sh<1, 0<r1<=1; got '
                f'prob={prob}, sl={sl}, sh={sh}, r1={r1}.')
        self.prob, self.sl, self.sh, self.r1 = prob, sl, sh, r1
        self.fill = tuple(float(v) for v in fill)

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        b, c, h, w = inputs.shape
        if len(self.fill) != c:
            raise ValueError(f'RandomErasing fill has {len(self.fill)} '
                             f'values for {c}-channel images.')
        fill = inputs.new_tensor(self.fill)[:, None, None]
        for i in torch.nonzero(torch.rand(b) < self.prob).flatten().tolist():
            for _ in range(100):
                area = h * w * (self.sl + (self.sh - self.sl) *
                                torch.rand(1).item())
                aspect = self.r1 + (1 / self.r1 - self.r1) * torch.rand(
                    1).item()
                eh = int(round(math.sqrt(area * aspect)))
                ew = int(round(math.sqrt(area / aspect)))
                if ew < w and eh < h:
                    top = torch.randint(0, h - eh + 1, (1, )).item()
                    left = torch.randint(0, w - ew + 1, (1, )).item()
                    inputs[i, :, top:top + eh, left:left + ew] = fill
                    break
        return inputs

    def __repr__(self) -> str:
        return (f'RandomErasing(prob={self.prob}, sl={self.sl}, '
                f'sh={self.sh}, r1={self.r1}, fill={self.fill})')
