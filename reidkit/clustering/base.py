"""The clusterer contract and input checks shared by the clusterers."""
import inspect
import numbers
from typing import Dict, Union

import numpy as np
import torch

__all__ = ['BaseClusterer', 'as_features', 'relabel']

FeatureLike = Union[np.ndarray, torch.Tensor]


def as_features(features: FeatureLike,
                normalize: bool = True,
                keep_device: bool = False) -> FeatureLike:
    """Check features and return them as float32 N x D.

    Args:
        features (ndarray | Tensor): N x D, on any device.
        normalize (bool): L2-normalise every row (a zero row stays zero).
            Defaults to True.
        keep_device (bool): Return a torch tensor as a float32 tensor on
            its device (e.g. for a GPU kNN) instead of a numpy array.
            Defaults to False.

    Returns:
        ndarray | Tensor: N x D float32, C-contiguous.
    """
    if isinstance(features, torch.Tensor):
        if features.is_floating_point() or features.dtype in (
                torch.int32, torch.int64, torch.int16, torch.int8,
                torch.uint8):
            feats = features.detach().float()
        else:
            raise ValueError('features must be an N x D real-valued '
                             f'tensor, got dtype {features.dtype}.')
    else:
        try:
            feats = np.asarray(features)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f'features must be an N x D numeric array: {err}') from err
        if not (np.issubdtype(feats.dtype, np.floating)
                or np.issubdtype(feats.dtype, np.integer)):
            raise ValueError('features must be an N x D real-valued array, '
                             f'got dtype {feats.dtype}.')
    shape = tuple(feats.shape)
    if len(shape) != 2:
        raise ValueError('features must be 2-D (N samples x D dims), got '
                         f'shape {shape}; reshape a single feature to '
                         '(1, D) or flatten per-sample maps first.')
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f'features are empty (shape {shape}); there is '
                         'nothing to cluster.')
    if isinstance(feats, torch.Tensor):
        bad = (~torch.isfinite(feats).all(dim=1)).cpu().numpy()
    else:
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        bad = ~np.isfinite(feats).all(axis=1)
    if bad.any():
        raise ValueError(
            f'{int(bad.sum())} of {shape[0]} feature rows contain NaN or '
            f'inf (first: row {int(np.flatnonzero(bad)[0])}); check the '
            'model output (e.g. a diverged loss) before clustering.')
    if isinstance(feats, torch.Tensor):
        if normalize:
            feats = torch.nn.functional.normalize(feats, dim=1)
        feats = feats.contiguous()
        return feats if keep_device else feats.cpu().numpy()
    if normalize:
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = feats / np.maximum(norms, 1e-12)
    return feats


def relabel(labels: np.ndarray) -> np.ndarray:
    """Non-negative labels to 0..C-1 in order of value; negatives to -1."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    out = np.full_like(labels, -1)
    valid = labels >= 0
    out[valid] = np.unique(labels[valid], return_inverse=True)[1]
    return out


def _check_int(name: str, value, low: int) -> None:
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < low):
        raise ValueError(f'{name} must be an integer >= {low}, got '
                         f'{value!r}.')


class BaseClusterer:
    """The clusterer contract.

    Subclasses implement :meth:`fit_predict` and set ``last_timings``
    (``{stage: seconds}``; stages do not overlap) and ``last_info`` on
    every call. Constructor arguments are kept as attributes of the same
    name, which :meth:`__repr__` shows.
    """

    def __init__(self) -> None:
        self.last_timings: Dict[str, float] = {}
        self.last_info: Dict[str, object] = {}

    def fit_predict(self, features: FeatureLike) -> np.ndarray:
        """Cluster N x D features.

        Returns:
            ndarray: N int64 labels in 0..C-1, -1 = outlier.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        params = inspect.signature(type(self).__init__).parameters
        args = ', '.join(f'{name}={getattr(self, name)!r}' for name in params
                         if name != 'self' and hasattr(self, name))
        return f'{type(self).__name__}({args})'

    def _finish(self, labels: np.ndarray, timings: Dict[str, float],
                info: Dict[str, object]) -> np.ndarray:
        labels = relabel(labels)
        info['num_clusters'] = int(labels.max()) + 1 if labels.size else 0
        info['num_outliers'] = int((labels < 0).sum())
        self.last_timings = {k: float(v) for k, v in timings.items()}
        self.last_info = info
        return labels
