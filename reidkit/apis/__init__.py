from .config import check_launcher, prepare_config
from .demo import run_demo

__all__ = ['check_launcher', 'prepare_config', 'run_demo']
