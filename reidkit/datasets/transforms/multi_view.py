"""Several independently augmented views of one image."""
import copy
from typing import Callable, List, Optional, Sequence, Union

from mmcv.transforms import BaseTransform

from reidkit.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiView(BaseTransform):
    """Run a sub-pipeline several times to get independent views.

    Each view runs ``transforms`` on its own deep copy of the input
    results, so the random augmentations (flip, crop, ...) are drawn
    independently per view: Mutual Mean-Teaching feeds one view to each
    network and the other to its mean teacher. The output is the results
    of the first view with ``img`` replaced by the list of the views'
    images; :class:`PackReIDInputs` then packs a list of tensors.

    Example::

        train_pipeline = [
            dict(type='mmcv.LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[
                dict(type='mmcv.Resize', scale=(128, 256),
                     keep_ratio=False),
                dict(type='mmcv.RandomFlip', prob=0.5,
                     direction='horizontal'),
                dict(type='RandomPadCrop', padding=10),
            ]),
            dict(type='PackReIDInputs'),
        ]

    Required Keys: ``img`` (and whatever ``transforms`` need).
    Modified Keys: ``img`` (a list of ``num_views`` images), plus the keys
    the sub-pipeline sets, taken from the first view.

    Args:
        transforms (list[dict | callable]): The per-view sub-pipeline:
            ``TRANSFORMS`` configs or callables. It must not pack the
            inputs (put :class:`PackReIDInputs` after ``MultiView``).
        num_views (int): How many views. Defaults to 2.
    """

    def __init__(self,
                 transforms: Sequence[Union[dict, Callable]],
                 num_views: int = 2) -> None:
        if isinstance(num_views, bool) or not isinstance(num_views, int) \
                or num_views < 1:
            raise ValueError(
                f'MultiView: num_views must be an int >= 1, got '
                f'{num_views!r}.')
        if isinstance(transforms, (dict, str)) or not isinstance(
                transforms, Sequence):
            raise TypeError(
                'MultiView: transforms must be a list of transform configs '
                f'or callables, got {type(transforms).__name__}.')
        self.num_views = num_views
        self.transforms: List[Callable] = []
        for t in transforms:
            if isinstance(t, dict):
                t = TRANSFORMS.build(t)
            if not callable(t):
                raise TypeError(
                    'MultiView: every transform must be a config dict or a '
                    f'callable, got {type(t).__name__}.')
            self.transforms.append(t)

    def _one_view(self, results: dict) -> Optional[dict]:
        for t in self.transforms:
            results = t(results)
            if results is None:
                return None
        return results

    def transform(self, results: dict) -> Optional[dict]:
        views = []
        for _ in range(self.num_views):
            view = self._one_view(copy.deepcopy(results))
            if view is None:
                return None
            views.append(view)
        out = views[0]
        out['img'] = [view['img'] for view in views]
        return out

    def __repr__(self) -> str:
        inner = ', '.join(repr(t) for t in self.transforms)
        return (f'{type(self).__name__}(num_views={self.num_views}, '
                f'transforms=[{inner}])')
