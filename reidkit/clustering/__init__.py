"""Pseudo labelling: k-reciprocal Jaccard distance and the clusterers
(CLUSTERERS) that turn features into pseudo identities."""
from .base import BaseClusterer
from .clusterers import DBSCAN, InfoMap, KMeans
from .eps import k_distance, mmt_eps, suggest_eps
from .features import FeatureFile, FeatureFileWriter
from .ivf import ivf_knn
from .jaccard import compute_jaccard_distance
from .knn import knn_search

__all__ = [
    'BaseClusterer', 'DBSCAN', 'KMeans', 'InfoMap', 'compute_jaccard_distance',
    'knn_search', 'ivf_knn', 'FeatureFile', 'FeatureFileWriter', 'k_distance',
    'mmt_eps', 'suggest_eps'
]
