from .base_reid_dataset import BaseReIDDataset, DatasetLayoutError
from .dukemtmcreid import DukeMTMCreID
from .image_folder import ImageFolderReID
from .market1501 import Market1501
from .msmt17 import MSMT17
from .personx import PersonX
from .samplers import IdentitySampler
from .synthetic.dataset import SyntheticReID
from .transforms import PackReIDInputs, RandomPadCrop
from .veri import VeRi776

__all__ = [
    'BaseReIDDataset', 'DatasetLayoutError', 'Market1501', 'DukeMTMCreID',
    'MSMT17', 'VeRi776', 'PersonX', 'ImageFolderReID', 'SyntheticReID',
    'IdentitySampler', 'PackReIDInputs', 'RandomPadCrop'
]
