from .config import prepare_config
from .demo import run_demo

__all__ = ['prepare_config', 'run_demo']
