import os
import os.path as osp
import re
from typing import List, Optional

from reidkit.registry import DATASETS
from .base_reid_dataset import (IMG_EXTENSIONS, BaseReIDDataset,
                                DatasetLayoutError, Record)


@DATASETS.register_module()
class ImageFolderReID(BaseReIDDataset):
    """A user's own crops in plain folders; identities are optional.

    Training needs no identities: unlabelled images get ``gt_pid = -1``
    (here -1 means "unknown", not junk, and nothing is dropped).
    Evaluation needs identities, so ``query``/``gallery`` require
    ``pid_pattern``.

    Camera ids are optional. Without ``camid_pattern`` every image gets
    ``camid = -1`` and :class:`~reidkit.evaluation.ReIDMetric` keeps
    same-camera matches (the standard protocol removes them) and says so in
    its results, because the numbers are then not comparable with benchmark
    numbers.

    Images are found recursively (``.jpg .jpeg .png .bmp``), sorted by
    relative path. Patterns are regular expressions searched in the path
    relative to the split folder (with ``/`` separators); their first group
    must capture an integer.

    Expected layout (folder names configurable)::

        data_root/
        ├── train/     any/sub/folders/img_c1_0001.jpg ...
        ├── query/     (optional; needs pid_pattern)
        └── gallery/   (optional; needs pid_pattern)

    Example:
        >>> # crops named like "0042_c3_000117.jpg" (pid 42, camera 3)
        >>> ds = ImageFolderReID('data/my_crops', split='test',
        ...                      pid_pattern=r'^(\\d+)_',
        ...                      camid_pattern=r'_c(\\d+)_')

    Args:
        data_root (str): The root folder.
        split (str): 'train', 'query', 'gallery' or 'test'.
        train_dir, query_dir, gallery_dir (str): Split folders relative to
            ``data_root``. Defaults to 'train', 'query', 'gallery'.
        pid_pattern (str, optional): Regex whose group 1 is the identity.
        camid_pattern (str, optional): Regex whose group 1 is the camera;
            camera ids are used as given (not shifted).
        dataset_name (str): Name shown in logs. Defaults to 'image_folder'.
    """

    METAINFO = dict(dataset_name='image_folder')
    EXPECTED_TREE = """\
    data_root/
    ├── train/      any/sub/folders/*.jpg (no identities needed)
    ├── query/      (optional, needs pid_pattern)
    └── gallery/    (optional, needs pid_pattern)"""

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 train_dir: str = 'train',
                 query_dir: str = 'query',
                 gallery_dir: str = 'gallery',
                 pid_pattern: Optional[str] = None,
                 camid_pattern: Optional[str] = None,
                 dataset_name: str = 'image_folder',
                 **kwargs) -> None:
        if split != 'train' and pid_pattern is None:
            raise ValueError(
                f'ImageFolderReID split={split!r} is for evaluation and '
                'needs identities: pass pid_pattern, a regex whose first '
                "group captures the identity (e.g. r'^(\\d+)_').")
        self.SPLIT_DIRS = dict(
            train=train_dir, query=query_dir, gallery=gallery_dir)
        self.pid_pattern = pid_pattern
        self.camid_pattern = camid_pattern
        kwargs.setdefault('drop_junk', pid_pattern is not None)
        super().__init__(
            data_root=data_root,
            split=split,
            dataset_name=dataset_name,
            **kwargs)
        self._metainfo['has_camids'] = camid_pattern is not None

    def _search_int(self, pattern: str, rel: str, what: str) -> int:
        match = re.search(pattern, rel)
        if match is None or not match.groups():
            raise ValueError(
                f'ImageFolderReID: {what} pattern {pattern!r} does not match '
                f'"{rel}" (or has no group). Every image must match.')
        try:
            return int(match.group(1))
        except ValueError:
            raise ValueError(
                f'ImageFolderReID: {what} pattern {pattern!r} captured '
                f'{match.group(1)!r} from "{rel}"; it must capture an '
                'integer.') from None

    def parse_split(self, root: str, split: str) -> List[Record]:
        folder = self.SPLIT_DIRS[split]
        base = osp.join(root, folder)
        rels = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in filenames:
                if name.lower().endswith(IMG_EXTENSIONS):
                    rels.append(
                        osp.relpath(osp.join(dirpath, name),
                                    base).replace(os.sep, '/'))
        if not rels:
            raise DatasetLayoutError(
                f'ImageFolderReID: no images ({", ".join(IMG_EXTENSIONS)}) '
                f'under "{base}". Expected layout:\n{self.EXPECTED_TREE}')
        records = []
        for rel in sorted(rels):
            pid = (-1 if self.pid_pattern is None else self._search_int(
                self.pid_pattern, rel, 'pid'))
            camid = (-1 if self.camid_pattern is None else self._search_int(
                self.camid_pattern, rel, 'camera'))
            records.append((osp.join(folder, rel), pid, camid))
        return records
