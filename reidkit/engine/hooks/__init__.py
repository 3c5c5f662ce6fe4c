from .pseudo_label_hook import (PseudoLabelHook, camera_standardize,
                                relabel_contiguous)

__all__ = ['PseudoLabelHook', 'camera_standardize', 'relabel_contiguous']
