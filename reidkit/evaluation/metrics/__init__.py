from .reid_metric import ReIDMetric, pairwise_distance

__all__ = ['ReIDMetric', 'pairwise_distance']
