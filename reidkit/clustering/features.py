"""Out-of-core feature matrices and the row reader the clustering code uses.

A million 2,048-d float32 features take 8 GB. The pseudo-labelling step
never needs them all in memory at once: the kNN search reads blocks of
rows, the Jaccard step only a few rows per pair it has to measure, and the
centroids are running sums. :class:`FeatureFile` is an ``(N, D)`` matrix in
a ``.npy`` file that is read in chunks (``np.fromfile`` for row ranges, a
short-lived memory map for scattered rows, so the pages read do not stay
in the process' resident set); :class:`FeatureFileWriter` fills one in any
row order (e.g. as extraction batches arrive, from several processes).

:func:`row_source` wraps an in-memory array, a tensor (CPU or CUDA) or a
:class:`FeatureFile` behind one interface, :class:`RowSource`, so that the
same code runs, with bitwise the same results, on all of them.
"""
import os
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    'FeatureFile', 'FeatureFileWriter', 'RowSource', 'row_source',
    'cluster_sums'
]

# Bytes of features per chunk read from a file.
_CHUNK_BYTES = 256 << 20


class FeatureFile:
    """An ``(N, D)`` float32 feature matrix stored in a ``.npy`` file.

    Only the header is read on construction; rows are read on demand.

    Args:
        path (str): A ``.npy`` file holding a 2-D float32 C-order array
            (``np.save`` or :class:`FeatureFileWriter`).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a 2-D float32 C-order ``.npy``
            array.

    Examples:
        >>> feats = FeatureFile('work_dirs/run/pseudo_label_features.npy')
        >>> feats.shape
        (1000000, 2048)
        >>> block = feats.read(0, 4096)  # np.ndarray (4096, 2048)
    """

    def __init__(self, path: str) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'Feature file {path} does not exist.')
        with open(path, 'rb') as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0
                               if version == (1, 0) else
                               np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
            except ValueError as err:
                raise ValueError(
                    f'{path} is not a .npy file ({err}); save features with '
                    'np.save or FeatureFileWriter.') from err
            offset = f.tell()
        if len(shape) != 2 or fortran or dtype != np.float32:
            raise ValueError(
                f'{path} must hold a 2-D float32 C-order array (N, D), got '
                f'shape {shape}, dtype {dtype}'
                f'{", Fortran order" if fortran else ""}.')
        self.path = path
        self.shape: Tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(np.float32)
        self.offset = offset

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f'FeatureFile({self.path!r}, shape={self.shape})'

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * 4

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start .. stop - 1`` as a new ``(stop - start, D)`` array."""
        start, stop = max(0, int(start)), min(int(stop), self.shape[0])
        count = max(0, stop - start) * self.shape[1]
        out = np.fromfile(
            self.path,
            dtype=np.float32,
            count=count,
            offset=self.offset + start * self.shape[1] * 4)
        if out.size != count:
            raise ValueError(
                f'{self.path} is truncated: rows {start}..{stop - 1} could '
                'not be read. Was it written completely?')
        return out.reshape(-1, self.shape[1])

    def take(self, indices: np.ndarray) -> np.ndarray:
        """The rows ``indices`` (any order, repeats allowed) as a new
        array."""
        indices = np.asarray(indices, dtype=np.int64)
        mm = np.memmap(
            self.path,
            dtype=np.float32,
            mode='r',
            offset=self.offset,
            shape=self.shape)
        try:
            return np.array(mm[indices])
        finally:
            # unmap at once: the pages read leave the resident set
            mm._mmap.close()
            del mm

    def chunks(self,
               rows: Optional[int] = None
               ) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(start, block)`` over the file, ``rows`` rows per block
        (default: 256 MB per block)."""
        rows = rows or max(1, _CHUNK_BYTES // (4 * self.shape[1]))
        for start in range(0, self.shape[0], rows):
            yield start, self.read(start, start + rows)


class FeatureFileWriter:
    """Create a :class:`FeatureFile` and fill it, rows in any order.

    The file is created at its full size (sparse where the file system
    allows) by the first writer; further writers (e.g. the other ranks of a
    distributed job, on a shared file system) open it with
    ``create=False``. Rows are written with ``os.pwrite``, so nothing of
    the file stays in the writer's memory.

    Args:
        path (str): The ``.npy`` file.
        shape (tuple[int, int]): ``(N, D)``.
        create (bool): Create (or truncate) the file. Defaults to True.
    """

    def __init__(self,
                 path: str,
                 shape: Sequence[int],
                 create: bool = True) -> None:
        self.path = os.fspath(path)
        self.shape = (int(shape[0]), int(shape[1]))
        if create:
            os.makedirs(
                os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            header = np.lib.format.open_memmap(
                self.path, mode='w+', dtype=np.float32, shape=self.shape)
            self.offset = header.offset
            header._mmap.close()
            del header
        else:
            self.offset = FeatureFile(self.path).offset
        self._fd = os.open(self.path, os.O_WRONLY)

    def write(self, indices: np.ndarray, rows: np.ndarray) -> None:
        """Write ``rows[i]`` as row ``indices[i]`` of the file."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.shape != (len(indices), self.shape[1]):
            raise ValueError(
                f'Writing {len(indices)} rows of width {self.shape[1]}, got '
                f'an array of shape {rows.shape}.')
        if len(indices) and (indices.min() < 0
                             or indices.max() >= self.shape[0]):
            raise IndexError(
                f'Row indices must be in 0..{self.shape[0] - 1}, got '
                f'{indices.min()}..{indices.max()}.')
        order = np.argsort(indices, kind='stable')
        indices, rows = indices[order], rows[order]
        # one pwrite per run of consecutive rows
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        row_bytes = self.shape[1] * 4
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(indices)]):
            os.pwrite(self._fd, rows[lo:hi].tobytes(),
                      self.offset + int(indices[lo]) * row_bytes)

    def close(self) -> FeatureFile:
        """Flush and close; returns the file as a :class:`FeatureFile`."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        return FeatureFile(self.path)

    def __enter__(self) -> 'FeatureFileWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


FeatureInput = Union[np.ndarray, torch.Tensor, FeatureFile]


def _normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the rows whose norm is not 1 (to 1e-6); unit rows are
    kept bit for bit. A per-row rule, so a chunk gives the same rows as the
    whole matrix."""
    norms = torch.linalg.vector_norm(x, dim=1)
    off = (norms - 1).abs() > 1e-6
    if not bool(off.any()):
        return x
    x = x.clone()
    x[off] /= norms[off].clamp_(min=1e-12)[:, None]
    return x


class RowSource:
    """Rows of an ``(N, D)`` feature matrix as float32 torch tensors.

    Built by :func:`row_source`. In memory (a tensor, on its device), every
    read is a view or a gather; for a :class:`FeatureFile` the rows are read
    from disk on demand (CPU). With ``normalize`` the rows are
    L2-normalised as they are read (rows already of unit norm, to 1e-6, are
    kept as they are). Blocks read with :meth:`read` are checked to be
    finite (every search reads all rows that way first); gathers with
    :meth:`take` are not checked again.

    Attributes:
        num (int): N.
        dim (int): D.
        device (torch.device): Where the rows are returned.
        in_memory (bool): False for a :class:`FeatureFile`.
    """

    def __init__(self,
                 data: Union[torch.Tensor, FeatureFile],
                 normalize: bool = False) -> None:
        self._data = data
        self.normalize = normalize
        self.num, self.dim = (int(data.shape[0]), int(data.shape[1]))
        self.in_memory = isinstance(data, torch.Tensor)
        self.device = data.device if self.in_memory else torch.device('cpu')
        if self.in_memory and normalize:
            self._data = self._check(data, 0)  # normalised once, here
            self.normalize = False

    def __len__(self) -> int:
        return self.num

    def _check(self, x: torch.Tensor, start: Optional[int]) -> torch.Tensor:
        """Check a block read at row ``start`` (None: gathered rows, not
        checked) and normalise it if asked."""
        if start is not None:
            bad = ~torch.isfinite(x).all(dim=1)
            if bool(bad.any()):
                raise ValueError(
                    f'features contain NaN or inf (row '
                    f'{start + int(torch.nonzero(bad)[0])}): did the model '
                    'produce non-finite embeddings?')
        return _normalize_rows(x) if self.normalize else x

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start .. stop - 1`` (a view when in memory)."""
        if self.in_memory:
            return self._data[start:stop]
        return self._check(
            torch.from_numpy(self._data.read(start, stop)), start)

    def take(self, indices: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
        """Rows ``indices`` (any order) as a new tensor."""
        if self.in_memory:
            idx = torch.as_tensor(indices, dtype=torch.long,
                                  device=self.device)
            return self._data.index_select(0, idx)
        idx = np.asarray(
            indices.cpu() if isinstance(indices, torch.Tensor) else indices,
            dtype=np.int64)
        return self._check(torch.from_numpy(self._data.take(idx)), None)

    def full(self) -> torch.Tensor:
        """All rows as one tensor (reads a file completely)."""
        if self.in_memory:
            return self._data
        return self.read(0, self.num)

    def block_rows(self, chunk_size: int) -> int:
        """Rows per read for whole passes over a file: a multiple of
        ``chunk_size`` holding about 256 MB (everything when in
        memory)."""
        if self.in_memory:
            return self.num
        per = max(1, _CHUNK_BYTES // (4 * self.dim * chunk_size))
        return per * chunk_size

    def chunks(self, rows: int) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yield ``(start, rows start .. start + rows - 1)``."""
        for start in range(0, self.num, rows):
            yield start, self.read(start, start + rows)


def row_source(features: Union[FeatureInput, RowSource],
               normalize: bool = False) -> RowSource:
    """Wrap features for chunked reading.

    Args:
        features (np.ndarray | torch.Tensor | FeatureFile | RowSource):
            ``(N, D)`` real-valued features; a ``np.memmap`` is read like an
            array (use :class:`FeatureFile` to keep it out of memory).
        normalize (bool): L2-normalise rows as they are read. Defaults to
            False.

    Returns:
        RowSource: float32 rows on the input's device (CPU for numpy and
        files).

    Raises:
        ValueError: If the features are not 2-D, are empty, are not real
            numbers or (in memory) are not finite.
    """
    if isinstance(features, RowSource):
        if normalize and not features.normalize:
            return RowSource(features._data, normalize=True)
        return features
    if isinstance(features, FeatureFile):
        if features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(f'features is empty: shape {features.shape}')
        return RowSource(features, normalize)
    if isinstance(features, torch.Tensor):
        x = features.detach()
    else:
        arr = np.asarray(features)
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f'features must be numeric, got {arr.dtype}')
        x = torch.from_numpy(arr)
    if x.dim() != 2:
        raise ValueError(
            f'features must be 2-D (N, D), got shape {tuple(x.shape)}')
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f'features is empty: shape {tuple(x.shape)}')
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f'features must be real numbers, got {x.dtype}')
    x = x.float().contiguous()
    src = RowSource(x, normalize=False)
    step = max(1, (1 << 20) // x.shape[1])
    for start in range(0, x.shape[0], step):
        src._check(x[start:start + step], start)
    return RowSource(x, normalize) if normalize else src


def cluster_sums(labels: np.ndarray, features: Union[FeatureInput, RowSource],
                 num_clusters: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-cluster feature sums and counts, reading the features in chunks.

    Args:
        labels (np.ndarray): ``(N,)`` labels in ``0..C-1``, -1 ignored.
        features: ``(N, D)`` features (see :func:`row_source`).
        num_clusters (int): C.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(C, D)`` float32 sums and
        ``(C,)`` int64 counts, on the CPU.
    """
    src = row_source(features)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    sums = torch.zeros(num_clusters, src.dim)
    for start, block in src.chunks(src.block_rows(1)):
        lab = labels[start:start + len(block)]
        valid = lab >= 0
        sums.index_add_(0, lab[valid], block.cpu()[valid])
    counts = torch.bincount(labels[labels >= 0], minlength=num_clusters)
    return sums, counts
