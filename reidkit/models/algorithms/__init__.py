from .base import BaseReIDModel
from .cluster_contrast import ClusterContrast
from .supervised import SupervisedReID

__all__ = ['BaseReIDModel', 'ClusterContrast', 'SupervisedReID']
