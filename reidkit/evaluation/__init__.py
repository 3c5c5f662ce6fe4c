from .functional import (average_precision, cluster_statistics,
                         evaluate_rank, pseudo_label_quality, re_ranking)
from .metrics import ReIDMetric, pairwise_distance
from .results import format_results, format_table, write_results

__all__ = [
    'average_precision', 'evaluate_rank', 're_ranking', 'cluster_statistics',
    'pseudo_label_quality', 'ReIDMetric', 'pairwise_distance',
    'format_results', 'format_table', 'write_results'
]
