"""Image transforms the papers use that mmcv does not provide."""
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from reidkit.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomPadCrop(BaseTransform):
    """Pad every side, then crop a random window of the original size.

    The re-ID papers' ``Pad(10)`` + ``RandomCrop((256, 128))``: a random
    translation by up to ``padding`` pixels with a constant border.

    Required Keys: ``img``. Modified Keys: ``img``.

    Args:
        padding (int): Pixels added on each side. Defaults to 10.
        pad_val (int | tuple): Border value. Defaults to 0 (black, as
            torchvision's ``Pad`` in the reference code).
    """

    def __init__(self, padding: int = 10, pad_val=0) -> None:
        if padding < 0:
            raise ValueError(f'padding must be >= 0, got {padding}.')
        self.padding = padding
        self.pad_val = pad_val

    @cache_randomness
    def _offsets(self) -> Tuple[int, int]:
        return (np.random.randint(0, 2 * self.padding + 1),
                np.random.randint(0, 2 * self.padding + 1))

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        p = self.padding
        padded = mmcv.impad(
            img, padding=(p, p, p, p), pad_val=self.pad_val)
        top, left = self._offsets()
        results['img'] = padded[top:top + h, left:left + w]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(padding={self.padding}, '
                f'pad_val={self.pad_val})')
