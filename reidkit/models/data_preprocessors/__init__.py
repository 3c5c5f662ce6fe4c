from .batch_augments import RandomErasing
from .reid_preprocessor import ReIDDataPreprocessor

__all__ = ['RandomErasing', 'ReIDDataPreprocessor']
