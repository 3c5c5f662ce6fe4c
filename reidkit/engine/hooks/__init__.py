from .mean_teacher_hook import MeanTeacherHook, OptimizerResetHook
from .pseudo_label_hook import (PseudoLabelHook, camera_standardize,
                                relabel_contiguous)
from .target_bn_hook import TargetBNAdaptHook

__all__ = [
    'MeanTeacherHook', 'OptimizerResetHook',
    'PseudoLabelHook', 'camera_standardize', 'relabel_contiguous',
    'TargetBNAdaptHook'
]
