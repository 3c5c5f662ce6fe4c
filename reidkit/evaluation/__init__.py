from .functional import evaluate_rank, re_ranking
from .metrics import ReIDMetric, pairwise_distance
from .results import format_results, format_table, write_results

__all__ = [
    'evaluate_rank', 're_ranking', 'ReIDMetric', 'pairwise_distance',
    'format_results', 'format_table', 'write_results'
]
