"""Visualisation backends and visualizers (mmengine's are used as-is), and
rank-list pictures for retrieval results."""
from .rank_list import (MATCH_COLOR, MISMATCH_COLOR, NEUTRAL_COLOR,
                        QUERY_COLOR, draw_rank_list, rank_list_layout)

__all__ = [
    'draw_rank_list', 'rank_list_layout', 'MATCH_COLOR', 'MISMATCH_COLOR',
    'NEUTRAL_COLOR', 'QUERY_COLOR'
]
