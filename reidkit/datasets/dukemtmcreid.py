from reidkit.registry import DATASETS
from .base_reid_dataset import BaseReIDDataset


@DATASETS.register_module()
class DukeMTMCreID(BaseReIDDataset):
    """DukeMTMC-reID (Zheng et al., ICCV 2017; Ristani et al., ECCVW 2016).

    The data set was withdrawn by its authors; reidkit only reads a copy the
    user already has, and no default config depends on it.

    Statistics: 1,404 identities (+408 distractors), 8 cameras;
    train 702 ids / 16,522 images; query 702 ids / 2,228 images;
    gallery 1,110 ids / 17,661 images.

    File names: ``0001_c2_f0046182.jpg`` = pid 1, camera 2 (stored 0-based).

    Expected layout (the inner ``DukeMTMC-reID`` folder is optional)::

        data_root/
        └── DukeMTMC-reID/
            ├── bounding_box_train/   0001_c2_f0046182.jpg ...
            ├── query/
            └── bounding_box_test/
    """

    METAINFO = dict(dataset_name='dukemtmcreid')
    SPLIT_DIRS = dict(
        train='bounding_box_train', query='query', gallery='bounding_box_test')
    INNER_DIRS = ('DukeMTMC-reID', )
    NAME_PATTERN = r'^([-\d]+)_c(\d)'
    EXPECTED_TREE = """\
    data_root/
    └── DukeMTMC-reID/              (optional inner folder)
        ├── bounding_box_train/     0001_c2_f0046182.jpg ...
        ├── query/                  0005_c2_f0046985.jpg ...
        └── bounding_box_test/      0002_c1_f0044542.jpg ..."""
