from .checkpoint_hook import CheckpointHook, atomic_write_text
from .epoch_seed_hook import EpochSeedHook, epoch_seed, seed_everything
from .gds_stats_hook import (GDSStatsHook, bhattacharyya_coefficient,
                             wrong_side_fraction)
from .mean_teacher_hook import MeanTeacherHook, OptimizerResetHook
from .pseudo_label_hook import (PseudoLabelHook, camera_standardize,
                                camera_standardize_file, relabel_contiguous)
from .resume_val_hook import ResumeValHook, validated_after_epoch
from .sync_bn_stats_hook import SyncBNStatsHook
from .target_bn_hook import TargetBNAdaptHook

__all__ = [
    'CheckpointHook', 'atomic_write_text',
    'EpochSeedHook', 'epoch_seed', 'seed_everything',
    'GDSStatsHook', 'bhattacharyya_coefficient', 'wrong_side_fraction',
    'MeanTeacherHook', 'OptimizerResetHook',
    'PseudoLabelHook', 'camera_standardize', 'camera_standardize_file',
    'relabel_contiguous',
    'ResumeValHook', 'validated_after_epoch',
    'SyncBNStatsHook', 'TargetBNAdaptHook'
]
