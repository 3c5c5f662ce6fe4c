from .cross_entropy import CrossEntropyLabelSmooth
from .gds import GDSLoss
from .soft_losses import SoftEntropyLoss, SoftTripletLoss
from .triplet import (TripletLoss, euclidean_dist, hard_example_indices,
                      hard_example_mining)

__all__ = [
    'CrossEntropyLabelSmooth', 'GDSLoss', 'TripletLoss', 'euclidean_dist',
    'hard_example_mining', 'hard_example_indices', 'SoftEntropyLoss',
    'SoftTripletLoss'
]
