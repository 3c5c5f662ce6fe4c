"""Metric functions for re-identification retrieval and pseudo labels."""
from .cluster_quality import cluster_statistics, pseudo_label_quality
from .rank import average_precision, evaluate_rank
from .rerank import re_ranking

__all__ = [
    'average_precision',
    'evaluate_rank', 're_ranking', 'cluster_statistics',
    'pseudo_label_quality'
]
