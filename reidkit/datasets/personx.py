from typing import Tuple

from reidkit.registry import DATASETS
from .base_reid_dataset import BaseReIDDataset


@DATASETS.register_module()
class PersonX(BaseReIDDataset):
    """PersonX synthetic persons (Sun & Zheng, CVPR 2019), as used by SpCL
    and Cluster Contrast.

    Statistics: 1,266 identities, 6 cameras; train 9,840 images;
    query 5,136; gallery 30,816.

    The release names its 6 cameras 3, 4, 8, 10, 11 and 12
    (``1_c3s1_000001.jpg``-style Market names); they are mapped to 0..5 in
    that order, as the reference code does.

    Expected layout (the inner ``PersonX`` folder is optional)::

        data_root/
        └── PersonX/
            ├── bounding_box_train/
            ├── query/
            └── bounding_box_test/
    """

    METAINFO = dict(dataset_name='personx')
    SPLIT_DIRS = dict(
        train='bounding_box_train', query='query', gallery='bounding_box_test')
    INNER_DIRS = ('PersonX', )
    NAME_PATTERN = r'^([-\d]+)_c(\d+)'
    CAMERA_IDS = (3, 4, 8, 10, 11, 12)
    EXPECTED_TREE = """\
    data_root/
    └── PersonX/                    (optional inner folder)
        ├── bounding_box_train/     1_c3s1_000001.jpg ...  (cameras 3,4,8,10,11,12)
        ├── query/
        └── bounding_box_test/"""

    def parse_name(self, filename: str) -> Tuple[int, int]:
        pid, cam = super().parse_name(filename)
        cam += 1  # undo the generic 0-based shift; map the raw camera id
        if cam not in self.CAMERA_IDS:
            raise ValueError(
                f'PersonX: camera {cam} in "{filename}" is not one of the '
                f'release cameras {self.CAMERA_IDS}.')
        return pid, self.CAMERA_IDS.index(cam)
