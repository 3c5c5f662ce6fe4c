# Importing mmcv.transforms registers the "mmcv" scope, so configs can use
# dict(type='mmcv.LoadImageFromFile'), 'mmcv.Resize', 'mmcv.RandomFlip'.
import mmcv.transforms  # noqa: F401

from .formatting import PackReIDInputs
from .multi_view import MultiView
from .processing import RandomPadCrop

__all__ = ['MultiView', 'PackReIDInputs', 'RandomPadCrop']
