import os
import os.path as osp

import pytest


def make_files(root, rel_paths):
    """Create empty files (parsers only read names)."""
    for rel in rel_paths:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        open(path, 'wb').close()


@pytest.fixture(scope='session')
def synthetic_tiny_root(tmp_path_factory):
    """The built-in synthetic set, size 'tiny', generated once per session."""
    from reidkit.datasets.synthetic import ensure_synthetic_reid
    root = str(tmp_path_factory.mktemp('reidkit_cache'))
    os.environ['REIDKIT_DATA_CACHE'] = root
    return ensure_synthetic_reid(root=root, size='tiny', style='market',
                                 seed=0)
