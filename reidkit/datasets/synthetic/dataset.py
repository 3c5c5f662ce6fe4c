from typing import Optional

from reidkit.registry import DATASETS
from ..market1501 import Market1501


@DATASETS.register_module()
class SyntheticReID(Market1501):
    """reidkit's built-in procedurally generated re-ID data set.

    The images are generated once (deterministically per ``seed``) into a
    cache folder in the Market-1501 layout and then read by the
    :class:`Market1501` parser, so the real loader code runs on them. See
    ``docs/synthetic_data.md`` for what the crops contain and the sizes.

    Args:
        size (str): 'tiny', 'small' or 'default'. Defaults to 'default'.
        style (str): 'market' (6 cameras) or 'other' (a second domain with
            another palette and 8 cameras). Defaults to 'market'.
        seed (int): Generation seed. Defaults to 0.
        cache_root (str, optional): Where to cache; defaults to
            ``$REIDKIT_DATA_CACHE`` or ``~/.cache/reidkit``.
        split (str): As for every reidkit dataset. Defaults to 'train'.
        **kwargs: Other :class:`BaseReIDDataset` arguments.
    """

    METAINFO = dict(dataset_name='synthetic')

    def __init__(self,
                 size: str = 'default',
                 style: str = 'market',
                 seed: int = 0,
                 cache_root: Optional[str] = None,
                 split: str = 'train',
                 **kwargs) -> None:
        from .generator import ensure_synthetic_reid
        if 'data_root' in kwargs:
            raise TypeError(
                'SyntheticReID generates its own data; use cache_root to '
                'choose where, not data_root.')
        self.size, self.style, self.seed = size, style, seed
        data_root = ensure_synthetic_reid(
            root=cache_root, size=size, style=style, seed=seed)
        kwargs.setdefault('dataset_name', f'synthetic_{style}_{size}')
        super().__init__(data_root=data_root, split=split, **kwargs)
