import os.path as osp

import pytest

from reidkit.datasets import MSMT17, DatasetLayoutError
from tests.conftest import make_files

TRAIN = ['0000/0000_000_01_0303morning_0015_0.jpg 0',
         '0000/0000_001_05_0303morning_0036_1.jpg 0',
         '0001/0001_000_14_0303noon_0984_0.jpg 1']
VAL = ['0002/0002_003_15_0303afternoon_1208_2.jpg 2']
QUERY = ['0000/0000_000_01_0303morning_0042_0.jpg 0']
GALLERY = ['0000/0000_002_06_0303morning_0118_1.jpg 0',
           '0003/0003_010_01_0303morning_0300_0.jpg 3']


def msmt_tree(root, version='V1'):
    inner, tr, te = (('MSMT17_V1', 'train', 'test') if version == 'V1' else
                     ('MSMT17_V2', 'mask_train_v2', 'mask_test_v2'))
    base = osp.join(root, inner)
    lists = dict(list_train=TRAIN, list_val=VAL, list_query=QUERY,
                 list_gallery=GALLERY)
    for name, lines in lists.items():
        folder = tr if name in ('list_train', 'list_val') else te
        make_files(base, [osp.join(folder, ln.split()[0]) for ln in lines])
        with open(osp.join(base, name + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return base, tr, te


@pytest.mark.parametrize('version', ['V1', 'V2'])
def test_msmt17_train_is_train_plus_val(tmp_path, version):
    base, tr, _ = msmt_tree(str(tmp_path), version)
    ds = MSMT17(data_root=str(tmp_path), version=version)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(infos) == 4
    assert [d['gt_pid'] for d in infos] == [0, 0, 1, 2]
    assert [d['camid'] for d in infos] == [0, 4, 13, 14]  # 3rd field - 1
    assert [d['gt_label'] for d in infos] == [0, 0, 1, 2]
    assert infos[0]['img_path'] == osp.join(
        base, tr, '0000/0000_000_01_0303morning_0015_0.jpg')
    only_train = MSMT17(data_root=str(tmp_path), version=version,
                        use_val_in_train=False)
    assert len(only_train) == 3


def test_msmt17_test_split(tmp_path):
    msmt_tree(str(tmp_path))
    ds = MSMT17(data_root=str(tmp_path), split='test')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['is_query'] for d in infos] == [True, False, False]
    assert [d['camid'] for d in infos] == [0, 5, 0]


def test_msmt17_missing_list_and_bad_lines(tmp_path):
    base, _, _ = msmt_tree(str(tmp_path))
    import os
    os.remove(osp.join(base, 'list_val.txt'))
    with pytest.raises(DatasetLayoutError, match='list_val.txt'):
        MSMT17(data_root=str(tmp_path))
    with open(osp.join(base, 'list_val.txt'), 'w') as f:
        f.write('0002/0002_003_15_0303afternoon_1208_2.jpg\n')
    with pytest.raises(ValueError, match=r'list_val.txt:1'):
        MSMT17(data_root=str(tmp_path))
    with pytest.raises(ValueError, match="'V1' or 'V2'"):
        MSMT17(data_root=str(tmp_path), version='V3')
