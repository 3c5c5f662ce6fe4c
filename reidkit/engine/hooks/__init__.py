from .gds_stats_hook import (GDSStatsHook, bhattacharyya_coefficient,
                             wrong_side_fraction)
from .mean_teacher_hook import MeanTeacherHook, OptimizerResetHook
from .pseudo_label_hook import (PseudoLabelHook, camera_standardize,
                                camera_standardize_file, relabel_contiguous)
from .sync_bn_stats_hook import SyncBNStatsHook
from .target_bn_hook import TargetBNAdaptHook

__all__ = [
    'GDSStatsHook', 'bhattacharyya_coefficient', 'wrong_side_fraction',
    'MeanTeacherHook', 'OptimizerResetHook',
    'PseudoLabelHook', 'camera_standardize', 'camera_standardize_file',
    'relabel_contiguous',
    'SyncBNStatsHook', 'TargetBNAdaptHook'
]
