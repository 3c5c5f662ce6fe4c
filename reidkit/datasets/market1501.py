from reidkit.registry import DATASETS
from .base_reid_dataset import BaseReIDDataset


@DATASETS.register_module()
class Market1501(BaseReIDDataset):
    """Market-1501 (Zheng et al., ICCV 2015).

    URL: https://zheng-lab-anu.github.io/Project/project_reid.html

    Statistics: 1,501 identities (+ distractors), 6 cameras;
    train 751 ids / 12,936 images; query 750 ids / 3,368 images;
    gallery 751 ids / 15,913 images (after dropping the pid -1 junk images;
    the 0000_* distractors stay in the gallery).

    File names: ``0002_c1s1_000451_03.jpg`` = pid 2, camera 1 (stored
    0-based), sequence 1, frame 451, box 3.

    Expected layout (the inner ``Market-1501-v15.09.15`` folder is optional)::

        data_root/
        └── Market-1501-v15.09.15/
            ├── bounding_box_train/   0002_c1s1_000451_03.jpg ...
            ├── query/                0001_c1s1_001051_00.jpg ...
            └── bounding_box_test/    0000_c1s1_000151_01.jpg ...
    """

    METAINFO = dict(dataset_name='market1501')
    SPLIT_DIRS = dict(
        train='bounding_box_train', query='query', gallery='bounding_box_test')
    INNER_DIRS = ('Market-1501-v15.09.15', )
    NAME_PATTERN = r'^([-\d]+)_c(\d)'
    EXPECTED_TREE = """\
    data_root/
    └── Market-1501-v15.09.15/      (optional inner folder)
        ├── bounding_box_train/     0002_c1s1_000451_03.jpg ...
        ├── query/                  0001_c1s1_001051_00.jpg ...
        └── bounding_box_test/      0000_c1s1_000151_01.jpg ..."""
