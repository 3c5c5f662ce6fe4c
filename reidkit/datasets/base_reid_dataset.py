"""Common machinery of every re-ID dataset: layout checks, parsing, splits."""
import logging
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

SPLITS = ('train', 'query', 'gallery', 'test')
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')

# (relative image path, pid, camid) as parsed from the files or lists.
Record = Tuple[str, int, int]


class DatasetLayoutError(FileNotFoundError):
    """A data set folder is missing or does not have the expected layout."""


class BrokenImageError(ValueError):
    """Some image files of a data set are empty, truncated or not images."""


def image_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete JPEG, PNG or BMP file, or None.

    A cheap check that decodes nothing: it reads the first bytes (the
    format's signature) and the last kilobyte (JPEG's end-of-image marker,
    PNG's ``IEND`` chunk) or compares a BMP's declared size with the file's.
    It catches empty files, non-images with an image extension and files
    cut off while copying or unpacking. Greyscale, palette and RGBA images
    pass: the loader converts them to 3-channel colour.
    """
    try:
        size = osp.getsize(path)
        with open(path, 'rb') as f:
            head = f.read(32)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as e:
        return f'cannot be read ({e.strerror})'
    if size == 0:
        return 'is empty (0 bytes)'
    if head.startswith(b'\xff\xd8\xff'):
        if b'\xff\xd9' not in tail:
            return 'is a truncated JPEG (no end-of-image marker)'
    elif head.startswith(b'\x89PNG\r\n\x1a\n'):
        if b'IEND' not in tail[-64:]:
            return 'is a truncated PNG (no IEND chunk)'
    elif head.startswith(b'BM') and len(head) >= 6:
        declared = int.from_bytes(head[2:6], 'little')
        if declared > size:
            return f'is a truncated BMP ({size} of {declared} bytes)'
    else:
        return 'is not a JPEG, PNG or BMP image (unknown file signature)'
    return None


class BaseReIDDataset(BaseDataset):
    """Base class of image re-ID datasets.

    A dataset object holds one ``split``:

    - ``'train'``: the training images. Identities are relabelled to
      contiguous ``gt_label`` values 0..P-1 in sorted pid order (used by the
      supervised baseline; the unsupervised methods ignore them).
    - ``'query'`` / ``'gallery'``: the evaluation images, ``is_query`` set.
    - ``'test'``: query followed by gallery in one dataset, the form the
      validation/test loops and :class:`~reidkit.evaluation.ReIDMetric` use.

    Every data item is a dict ``{img_path, gt_pid, gt_label, camid,
    is_query, dataset_name}``; :class:`~mmengine.dataset.BaseDataset` adds
    ``sample_idx`` (its position in the split, stable because the file lists
    are sorted). Images with pid -1 (Market/Duke "junk") are dropped.
    Subclasses implement :meth:`parse_split` and describe their layout.

    Args:
        data_root (str): The folder the user downloaded and unpacked the
            data set to (see each subclass for the expected tree).
        split (str): One of ``'train'``, ``'query'``, ``'gallery'``,
            ``'test'``. Defaults to ``'train'``.
        pipeline (Sequence[dict | Callable]): Transforms. Defaults to ().
        drop_junk (bool): Drop images with pid -1. Defaults to True.
        dataset_name (str, optional): Name used in logs and data items.
            Defaults to ``METAINFO['dataset_name']``.
        check_images (bool): At start-up, check that every image file is a
            complete JPEG, PNG or BMP (:func:`image_problem`: signature and
            end marker, no decoding; 0.17 s per 10,000 cached files). A
            broken file stops the build with its path and the fix, unless
            ``skip_broken_images``. Defaults to True.
        skip_broken_images (bool): Leave out the images that fail the check
            instead of stopping; they are counted and listed in the log and
            kept in :attr:`broken_images`. Defaults to False.
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments
            (``serialize_data``, ``lazy_init``, ``indices``,
            ``max_refetch``, ``metainfo``).
    """

    METAINFO: dict = dict(dataset_name='reid')
    #: Folders (relative to the resolved root) each split needs.
    SPLIT_DIRS: Dict[str, str] = {}
    #: Optional inner folders that the archive unpacks to, tried in order
    #: before ``data_root`` itself, e.g. ``Market-1501-v15.09.15``.
    INNER_DIRS: Sequence[str] = ()
    #: Human-readable expected tree, shown when the layout check fails.
    EXPECTED_TREE: str = ''
    #: Regular expression with groups (pid, camid) applied to file names.
    NAME_PATTERN: Optional[str] = None

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 drop_junk: bool = True,
                 dataset_name: Optional[str] = None,
                 check_images: bool = True,
                 skip_broken_images: bool = False,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(
                f'split must be one of {SPLITS}, got {split!r}. Use '
                "'test' for query+gallery evaluation datasets.")
        if not data_root:
            raise ValueError(
                f'{type(self).__name__} needs data_root, the folder that '
                f'holds the data set:\n{self.EXPECTED_TREE}')
        self.split = split
        self.drop_junk = drop_junk
        self.check_images = check_images
        self.skip_broken_images = skip_broken_images
        #: ``(path, reason)`` of every image left out by
        #: ``skip_broken_images``.
        self.broken_images: List[Tuple[str, str]] = []
        self.dataset_name = dataset_name or self.METAINFO['dataset_name']
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=dict(img_path=''),
            pipeline=list(pipeline),
            **kwargs)
        self._metainfo['dataset_name'] = self.dataset_name

    # ------------------------------------------------------------------
    # Layout
    # ------------------------------------------------------------------
    def required_entries(self, split: str) -> List[str]:
        """Entries (folders or files) the given split needs in the root."""
        if split == 'test':
            return self.required_entries('query') + self.required_entries(
                'gallery')
        return [self.SPLIT_DIRS[split]]

    def resolve_root(self) -> str:
        """Find the folder that holds the splits, or raise a clear error.

        ``data_root/<inner>`` is tried for each of :attr:`INNER_DIRS`, then
        ``data_root`` itself.
        """
        needed = self.required_entries(self.split)
        candidates = [osp.join(self.data_root, d) for d in self.INNER_DIRS]
        candidates.append(self.data_root)
        for cand in candidates:
            if all(osp.exists(osp.join(cand, e)) for e in needed):
                return cand
        # Report the most specific missing entry.
        best = next((c for c in candidates if osp.isdir(c)), None)
        if best is None:
            missing = self.data_root
        else:
            missing = next(
                osp.join(best, e) for e in needed
                if not osp.exists(osp.join(best, e)))
        name = self.dataset_name
        raise DatasetLayoutError(
            f'{name} ({type(self).__name__}, split={self.split!r}): '
            f'"{missing}" does not exist.\nreidkit never downloads data; '
            f'place the data set so that data_root="{self.data_root}" '
            f'looks like this:\n{self.EXPECTED_TREE}')

    # ------------------------------------------------------------------
    # Parsing
    # ------------------------------------------------------------------
    def parse_split(self, root: str, split: str) -> List[Record]:
        """Return (relative path, pid, camid) for one of train/query/gallery.

        The default reads every image of ``SPLIT_DIRS[split]`` and parses
        its name with :meth:`parse_name`.
        """
        return self.parse_folder(root, self.SPLIT_DIRS[split])

    def parse_name(self, filename: str) -> Tuple[int, int]:
        """(pid, 0-based camid) from a file name, using NAME_PATTERN."""
        match = re.search(self.NAME_PATTERN, filename)
        if match is None:
            raise ValueError(
                f'{type(self).__name__}: cannot parse pid and camera from '
                f'"{filename}" (expected names matching '
                f'{self.NAME_PATTERN!r}, e.g. {self.example_name()}). '
                'Remove or rename the file, check that this is the right '
                'data set class, or use ImageFolderReID with your own '
                'pid_pattern/camid_pattern.')
        return int(match.group(1)), int(match.group(2)) - 1

    def example_name(self) -> str:
        """A file name of the expected form, from :attr:`EXPECTED_TREE`."""
        match = re.search(r'[\w-]+\.(jpg|png|bmp)', self.EXPECTED_TREE)
        return f'"{match.group(0)}"' if match else 'see the docs'

    def parse_folder(self, root: str, folder: str) -> List[Record]:
        """Parse every image file directly inside ``root/folder``."""
        path = osp.join(root, folder)
        names = sorted(
            f for f in os.listdir(path)
            if f.lower().endswith(IMG_EXTENSIONS))
        if not names:
            raise DatasetLayoutError(
                f'{type(self).__name__}: no images in "{path}". Expected '
                f'layout:\n{self.EXPECTED_TREE}')
        records = []
        for name in names:
            try:
                pid, camid = self.parse_name(name)
            except ValueError as e:
                raise ValueError(f'In "{path}": {e}') from None
            records.append((osp.join(folder, name), pid, camid))
        return records

    def load_data_list(self) -> List[dict]:
        """Parse the split into data dicts (see the class docstring)."""
        root = self.resolve_root()
        name = self.dataset_name
        if self.split == 'test':
            parts = [('query', True), ('gallery', False)]
        else:
            parts = [(self.split, self.split == 'query')]
        data_list = []
        num_junk = 0
        for part, is_query in parts:
            for rel_path, pid, camid in self.parse_split(root, part):
                if pid == -1 and self.drop_junk:
                    num_junk += 1
                    continue
                data_list.append(
                    dict(
                        img_path=osp.join(root, rel_path),
                        gt_pid=pid,
                        gt_label=-1,
                        camid=camid,
                        is_query=is_query,
                        dataset_name=name))
        if num_junk:
            print_log(
                f'{name} {self.split}: dropped {num_junk} junk images '
                '(pid -1).',
                logger='current')
        if self.check_images:
            data_list = self._check_image_files(data_list)
        if self.split == 'train':
            self._relabel(data_list)
        return data_list

    def _check_image_files(self, data_list: List[dict]) -> List[dict]:
        """Apply :func:`image_problem` to every image (see ``__init__``)."""
        broken = []
        for d in data_list:
            problem = image_problem(d['img_path'])
            if problem is not None:
                broken.append((d['img_path'], problem))
        if not broken:
            return data_list
        name = f'{self.dataset_name} {self.split}'
        listing = '\n'.join(f'  {path} {why}' for path, why in broken[:20])
        if len(broken) > 20:
            listing += f'\n  ... and {len(broken) - 20} more'
        if not self.skip_broken_images:
            raise BrokenImageError(
                f'{name}: {len(broken)} of {len(data_list)} image files are '
                f'broken:\n{listing}\nReplace or delete them (e.g. unpack '
                'the archive again), or set skip_broken_images=True in the '
                'dataset config to leave them out (they are then listed in '
                'the log).')
        self.broken_images = broken
        print_log(
            f'{name}: skipping {len(broken)} of {len(data_list)} images '
            f'that are broken (skip_broken_images=True):\n{listing}',
            logger='current',
            level=logging.WARNING)
        bad = {path for path, _ in broken}
        kept = [d for d in data_list if d['img_path'] not in bad]
        if not kept:
            raise BrokenImageError(
                f'{name}: every image is broken; nothing is left to use.')
        return kept

    @staticmethod
    def _relabel(data_list: List[dict]) -> None:
        """Map train pids (sorted) to contiguous labels 0..P-1 in place."""
        pids = sorted({d['gt_pid'] for d in data_list if d['gt_pid'] >= 0})
        pid2label = {pid: label for label, pid in enumerate(pids)}
        for d in data_list:
            d['gt_label'] = pid2label.get(d['gt_pid'], -1)

    # ------------------------------------------------------------------
    # Statistics
    # ------------------------------------------------------------------
    @property
    def num_ids(self) -> int:
        """Number of distinct identities (pid >= 0) in this split."""
        return len({
            self.get_data_info(i)['gt_pid']
            for i in range(len(self))
        } - {-1})

    def statistics(self) -> dict:
        """Counts of images, identities and cameras of this split."""
        infos = [self.get_data_info(i) for i in range(len(self))]
        stats = dict(
            split=self.split,
            num_images=len(infos),
            num_ids=len({d['gt_pid'] for d in infos if d['gt_pid'] >= 0}),
            num_cameras=len({d['camid'] for d in infos if d['camid'] >= 0}))
        if self.split == 'test':
            stats['num_query'] = sum(d['is_query'] for d in infos)
            stats['num_gallery'] = stats['num_images'] - stats['num_query']
        return stats

    def __repr__(self) -> str:
        head = f'{type(self).__name__}(split={self.split!r}, ' \
               f'data_root={self.data_root!r}'
        if not self._fully_initialized:
            return head + ', not fully initialised)'
        return head + ', ' + ', '.join(
            f'{k}={v}' for k, v in self.statistics().items()
            if k != 'split') + ')'
