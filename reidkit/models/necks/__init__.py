from .bnneck import BNNeck
from .pooling import AvgPooling, GeMPooling

__all__ = ['BNNeck', 'AvgPooling', 'GeMPooling']
