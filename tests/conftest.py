import os
import os.path as osp

import pytest


_TINY_IMAGES = {}


def tiny_image_bytes(ext):
    """A valid 2x2 image file's bytes in the format of ``ext``."""
    ext = ext.lower()
    if ext not in ('.jpg', '.jpeg', '.png', '.bmp'):
        return b'not an image'
    if ext not in _TINY_IMAGES:
        import cv2
        import numpy as np
        ok, buf = cv2.imencode('.jpg' if ext == '.jpeg' else ext,
                               np.full((2, 2, 3), 128, np.uint8))
        assert ok
        _TINY_IMAGES[ext] = buf.tobytes()
    return _TINY_IMAGES[ext]


def make_files(root, rel_paths):
    """Create tiny valid images (parsers read the names; the data sets'
    start-up check reads each file's signature and end marker)."""
    for rel in rel_paths:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(tiny_image_bytes(osp.splitext(rel)[1] or '.jpg'))


@pytest.fixture(scope='session')
def synthetic_tiny_root(tmp_path_factory):
    """The built-in synthetic set, size 'tiny', generated once per session."""
    from reidkit.datasets.synthetic import ensure_synthetic_reid
    root = str(tmp_path_factory.mktemp('reidkit_cache'))
    os.environ['REIDKIT_DATA_CACHE'] = root
    return ensure_synthetic_reid(root=root, size='tiny', style='market',
                                 seed=0)


def tiny_loader_options(cache_root, loaders=('train_dataloader',
                                             'val_dataloader',
                                             'test_dataloader'),
                        num_workers=0):
    """``--cfg-options`` that point a synthetic config's dataloaders at the
    session's ``tiny`` set, in the main process (no workers)."""
    opts = {}
    for loader in loaders:
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache_root,
            f'{loader}.num_workers': num_workers,
            f'{loader}.persistent_workers': False,
        })
    return opts
