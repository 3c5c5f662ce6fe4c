import pytest

from reidkit.datasets import DatasetLayoutError, ImageFolderReID
from tests.conftest import make_files


def test_unlabelled_train_keeps_everything(tmp_path):
    make_files(str(tmp_path), ['train/cam1/a.jpg', 'train/cam2/b.png',
                               'train/cam1/sub/c.jpg', 'train/notes.txt'])
    ds = ImageFolderReID(data_root=str(tmp_path))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['img_path'].split('train/')[1] for d in infos] == [
        'cam1/a.jpg', 'cam1/sub/c.jpg', 'cam2/b.png']
    assert all(d['gt_pid'] == -1 and d['camid'] == -1 for d in infos)
    assert all(d['gt_label'] == -1 for d in infos)
    ds_cam = ImageFolderReID(data_root=str(tmp_path),
                             camid_pattern=r'^cam(\d+)/')
    assert [ds_cam.get_data_info(i)['camid'] for i in range(3)] == [1, 1, 2]
    assert ds_cam.metainfo['has_camids'] is True


def test_labelled_test_split(tmp_path):
    make_files(str(tmp_path), ['query/0042_c3_000117.jpg',
                               'gallery/0042_c1_000200.jpg',
                               'gallery/0007_c1_000300.jpg'])
    ds = ImageFolderReID(data_root=str(tmp_path), split='test',
                         pid_pattern=r'^(\d+)_', camid_pattern=r'_c(\d+)_')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(d['gt_pid'], d['camid'], d['is_query']) for d in infos] == [
        (42, 3, True), (7, 1, False), (42, 1, False)]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='needs identities'):
        ImageFolderReID(data_root=str(tmp_path), split='test')
    make_files(str(tmp_path), ['train/x.txt'])
    with pytest.raises(DatasetLayoutError, match='no images'):
        ImageFolderReID(data_root=str(tmp_path))
    make_files(str(tmp_path), ['train/abc.jpg'])
    with pytest.raises(ValueError, match='does not match'):
        ImageFolderReID(data_root=str(tmp_path), camid_pattern=r'_c(\d+)')
    with pytest.raises(ValueError, match='must capture an integer'):
        ImageFolderReID(data_root=str(tmp_path), camid_pattern=r'(ab)')
