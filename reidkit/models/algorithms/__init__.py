from .base import BaseReIDModel
from .supervised import SupervisedReID

__all__ = ['BaseReIDModel', 'SupervisedReID']
