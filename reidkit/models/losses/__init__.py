from .cross_entropy import CrossEntropyLabelSmooth
from .triplet import TripletLoss, euclidean_dist, hard_example_mining

__all__ = ['CrossEntropyLabelSmooth', 'TripletLoss', 'euclidean_dist',
           'hard_example_mining']
