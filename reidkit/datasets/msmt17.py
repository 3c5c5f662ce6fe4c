import os.path as osp
from typing import List

from reidkit.registry import DATASETS
from .base_reid_dataset import BaseReIDDataset, DatasetLayoutError, Record


@DATASETS.register_module()
class MSMT17(BaseReIDDataset):
    """MSMT17 (Wei et al., CVPR 2018), V1 or V2 release with its list files.

    Statistics: 4,101 identities, 15 cameras; train (list_train + list_val)
    1,041 ids / 32,621 images; query 3,060 ids / 11,659 images; gallery
    3,060 ids / 82,161 images.

    The training split is ``list_train.txt`` + ``list_val.txt``
    (``use_val_in_train=True``), as MMT, SpCL and OpenUnReID use it for
    unsupervised training; fast-reid uses list_train only
    (``use_val_in_train=False``). The validation images belong to the
    training identities.

    List lines: ``0000/0000_000_01_0303morning_0015_0.jpg 0`` (path relative
    to the image folder, pid). The camera is the third ``_`` field (1..15,
    stored 0-based).

    Expected layout (V1; V2 uses ``MSMT17_V2/mask_train_v2`` and
    ``mask_test_v2`` instead of ``train`` and ``test``)::

        data_root/
        └── MSMT17_V1/
            ├── train/   0000/0000_000_01_0303morning_0015_0.jpg ...
            ├── test/
            ├── list_train.txt
            ├── list_val.txt
            ├── list_query.txt
            └── list_gallery.txt

    Args:
        version (str): ``'V1'`` or ``'V2'``. Defaults to ``'V1'``.
        use_val_in_train (bool): Add list_val to the train split.
            Defaults to True.
    """

    METAINFO = dict(dataset_name='msmt17')
    EXPECTED_TREE = """\
    data_root/
    └── MSMT17_V1/                  (optional inner folder; MSMT17_V2 for V2)
        ├── train/                  0000/0000_000_01_0303morning_0015_0.jpg ...
        ├── test/                   (V2: mask_train_v2/ and mask_test_v2/)
        ├── list_train.txt          0000/0000_000_01_0303morning_0015_0.jpg 0
        ├── list_val.txt
        ├── list_query.txt
        └── list_gallery.txt"""
    _VERSION_DIRS = dict(
        V1=dict(inner='MSMT17_V1', train='train', test='test'),
        V2=dict(inner='MSMT17_V2', train='mask_train_v2',
                test='mask_test_v2'))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 version: str = 'V1',
                 use_val_in_train: bool = True,
                 **kwargs) -> None:
        if version not in self._VERSION_DIRS:
            raise ValueError(
                f"MSMT17 version must be 'V1' or 'V2', got {version!r}.")
        self.version = version
        self.use_val_in_train = use_val_in_train
        dirs = self._VERSION_DIRS[version]
        self.INNER_DIRS = (dirs['inner'], )
        self._lists = dict(
            train=[('list_train.txt', dirs['train'])] +
            ([('list_val.txt', dirs['train'])] if use_val_in_train else []),
            query=[('list_query.txt', dirs['test'])],
            gallery=[('list_gallery.txt', dirs['test'])])
        super().__init__(data_root=data_root, split=split, **kwargs)

    def required_entries(self, split: str) -> List[str]:
        if split == 'test':
            return self.required_entries('query') + self.required_entries(
                'gallery')
        entries = []
        for list_file, img_dir in self._lists[split]:
            entries += [list_file, img_dir]
        return entries

    def parse_split(self, root: str, split: str) -> List[Record]:
        records = []
        for list_file, img_dir in self._lists[split]:
            list_path = osp.join(root, list_file)
            with open(list_path) as f:
                lines = [line.strip() for line in f if line.strip()]
            if not lines:
                raise DatasetLayoutError(f'MSMT17: "{list_path}" is empty.')
            for lineno, line in enumerate(lines, 1):
                parts = line.split()
                if len(parts) != 2:
                    raise ValueError(
                        f'MSMT17: {list_path}:{lineno}: expected '
                        f'"<relative path> <pid>", got {line!r}.')
                rel, pid = parts
                fields = osp.basename(rel).split('_')
                if len(fields) < 3 or not fields[2].isdigit():
                    raise ValueError(
                        f'MSMT17: {list_path}:{lineno}: cannot read the '
                        f'camera from {rel!r} (expected names like '
                        '0000_000_01_0303morning_0015_0.jpg).')
                records.append(
                    (osp.join(img_dir, rel), int(pid), int(fields[2]) - 1))
        return sorted(records)
