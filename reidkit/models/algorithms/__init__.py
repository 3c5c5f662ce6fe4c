from .base import BaseReIDModel
from .cluster_contrast import ClusterContrast
from .mean_teacher import MeanTeacher
from .mmt import MMT, MMTNet
from .pseudo_label_triplet import PseudoLabelTriplet
from .pseudo_labels import PseudoLabelMixin
from .supervised import SupervisedReID

__all__ = [
    'BaseReIDModel', 'ClusterContrast', 'MeanTeacher', 'MMT', 'MMTNet',
    'PseudoLabelMixin', 'PseudoLabelTriplet', 'SupervisedReID'
]
