"""FeatureFile, FeatureFileWriter, row_source and cluster_sums: the file
paths read exactly what the in-memory paths read."""
import numpy as np
import pytest
import torch

import reidkit.clustering.features as features_module
from reidkit.clustering.features import (FeatureFile, FeatureFileWriter,
                                         cluster_sums, row_source)


@pytest.fixture
def saved(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randn(103, 7).astype(np.float32)
    path = str(tmp_path / 'x.npy')
    np.save(path, x)
    return x, path


def test_read_take_chunks_equal_the_saved_array(saved):
    x, path = saved
    f = FeatureFile(path)
    assert f.shape == (103, 7) and len(f) == 103
    assert f.nbytes == x.nbytes and f.path == path
    assert np.array_equal(f.read(0, 103), x)
    assert np.array_equal(f.read(10, 25), x[10:25])
    assert np.array_equal(f.read(100, 500), x[100:])  # clipped
    assert f.read(50, 50).shape == (0, 7)
    idx = np.array([5, 0, 102, 5, 40])  # any order, repeats
    assert np.array_equal(f.take(idx), x[idx])
    starts, blocks = zip(*f.chunks(10))
    assert starts == tuple(range(0, 103, 10))
    assert [len(b) for b in blocks][-1] == 3
    assert np.array_equal(np.concatenate(blocks), x)
    # read returns a copy: writing to it leaves the file alone
    block = f.read(0, 2)
    block[:] = 0
    assert np.array_equal(f.read(0, 2), x[:2])


def test_writer_out_of_order_and_two_writers_equal_np_save(saved, tmp_path):
    x, path = saved
    expected = open(path, 'rb').read()

    out = str(tmp_path / 'sub' / 'w.npy')  # the directory is created
    writer = FeatureFileWriter(out, x.shape)
    order = np.random.RandomState(1).permutation(len(x))
    for chunk in np.array_split(order, 9):
        writer.write(chunk, x[chunk])
    f = writer.close()
    assert isinstance(f, FeatureFile) and f.shape == x.shape
    assert np.array_equal(f.read(0, len(x)), x)
    assert open(out, 'rb').read() == expected

    # two writers (e.g. two ranks): the second opens the file; padding
    # duplicates write the same rows twice.
    out2 = str(tmp_path / 'w2.npy')
    first = FeatureFileWriter(out2, x.shape, create=True)
    second = FeatureFileWriter(out2, x.shape, create=False)
    even, odd = np.arange(0, len(x), 2), np.arange(1, len(x), 2)
    second.write(odd[::-1], x[odd[::-1]])
    first.write(even, x[even])
    second.write(even[:3], x[even[:3]])  # duplicates
    first.close()
    second.close()
    assert open(out2, 'rb').read() == expected


def test_writer_checks_rows(tmp_path):
    writer = FeatureFileWriter(str(tmp_path / 'w.npy'), (4, 3))
    with pytest.raises(ValueError, match='shape'):
        writer.write([0, 1], np.zeros((2, 4), np.float32))
    with pytest.raises(IndexError, match='0..3'):
        writer.write([4], np.zeros((1, 3), np.float32))
    writer.close()


def test_truncated_file_raises_on_read(saved, tmp_path):
    x, path = saved
    data = open(path, 'rb').read()
    cut = str(tmp_path / 'cut.npy')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) - 5 * 7 * 4])  # the last 5 rows missing
    f = FeatureFile(cut)  # the header is intact
    assert np.array_equal(f.read(0, 98), x[:98])
    with pytest.raises(ValueError, match='truncated'):
        f.read(90, 103)
    with pytest.raises(ValueError, match='truncated'):
        list(f.chunks(50))


def test_bad_files_raise_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError):
        FeatureFile(str(tmp_path / 'missing.npy'))
    text = tmp_path / 'a.txt'
    text.write_text('not an array')
    with pytest.raises(ValueError, match='not a .npy file'):
        FeatureFile(str(text))
    cube = str(tmp_path / 'cube.npy')
    np.save(cube, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match='2-D float32'):
        FeatureFile(cube)
    double = str(tmp_path / 'double.npy')
    np.save(double, np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match='2-D float32'):
        FeatureFile(double)
    fortran = str(tmp_path / 'fortran.npy')
    np.save(fortran, np.asfortranarray(np.ones((3, 2), np.float32)))
    with pytest.raises(ValueError, match='Fortran'):
        FeatureFile(fortran)


@pytest.mark.parametrize('chunk_bytes', [None, 7 * 4 * 10])
def test_cluster_sums_file_equals_memory(saved, monkeypatch, chunk_bytes):
    x, path = saved
    if chunk_bytes is not None:  # several chunks of 10 rows
        monkeypatch.setattr(features_module, '_CHUNK_BYTES', chunk_bytes)
    labels = np.random.RandomState(2).randint(-1, 6, len(x))
    sums, counts = cluster_sums(labels, torch.from_numpy(x), 6)
    file_sums, file_counts = cluster_sums(labels, FeatureFile(path), 6)
    assert torch.equal(sums, file_sums) and torch.equal(counts, file_counts)
    assert counts.tolist() == np.bincount(labels[labels >= 0],
                                          minlength=6).tolist()
    for c in range(6):
        np.testing.assert_allclose(
            sums[c].numpy(), x[labels == c].sum(0), rtol=1e-5, atol=1e-5)


def test_row_source_normalize_file_equals_memory(saved, monkeypatch):
    x, path = saved
    x = x.copy()
    x[3] /= np.linalg.norm(x[3])  # a unit row is kept as it is
    np.save(path, x)
    monkeypatch.setattr(features_module, '_CHUNK_BYTES', 7 * 4 * 16)
    mem = row_source(x, normalize=True)
    disk = row_source(FeatureFile(path), normalize=True)
    assert not disk.in_memory and (disk.num, disk.dim) == (103, 7)
    assert torch.equal(disk.full(), mem.full())
    assert torch.equal(disk.read(20, 50), mem.read(20, 50))
    idx = np.array([99, 3, 3, 0])
    assert torch.equal(disk.take(idx), mem.take(idx))
    blocks = torch.cat([b for _, b in disk.chunks(disk.block_rows(4))])
    assert torch.equal(blocks, mem.full())
    np.testing.assert_allclose(
        mem.full().norm(dim=1).numpy(), np.ones(len(x)), atol=1e-6)
