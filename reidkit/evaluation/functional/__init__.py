"""Metric functions for re-identification retrieval."""
from .rank import evaluate_rank
from .rerank import re_ranking

__all__ = ['evaluate_rank', 're_ranking']
