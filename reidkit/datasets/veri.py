from reidkit.registry import DATASETS
from .base_reid_dataset import BaseReIDDataset


@DATASETS.register_module()
class VeRi776(BaseReIDDataset):
    """VeRi-776 vehicle re-ID (Liu et al., ECCV 2016 / ICME 2016).

    Statistics: 776 vehicles, 20 cameras; train 576 ids / 37,778 images;
    query 200 ids / 1,678 images; gallery 200 ids / 11,579 images.
    The papers train vehicles at 224x224.

    File names: ``0001_c001_00016450_0.jpg`` = vehicle 1, camera 1 (stored
    0-based).

    Expected layout (the inner ``VeRi`` folder is optional)::

        data_root/
        └── VeRi/
            ├── image_train/   0001_c001_00016450_0.jpg ...
            ├── image_query/
            └── image_test/
    """

    METAINFO = dict(dataset_name='veri776')
    SPLIT_DIRS = dict(
        train='image_train', query='image_query', gallery='image_test')
    INNER_DIRS = ('VeRi', 'VeRi_with_plate')
    NAME_PATTERN = r'^([-\d]+)_c(\d+)'
    EXPECTED_TREE = """\
    data_root/
    └── VeRi/                       (optional inner folder)
        ├── image_train/            0001_c001_00016450_0.jpg ...
        ├── image_query/            0002_c002_00030600_0.jpg ...
        └── image_test/             0002_c002_00030600_0.jpg ..."""
