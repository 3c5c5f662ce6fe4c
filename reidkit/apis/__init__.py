from .config import prepare_config
from .demo import run_demo
from .dist import batch_accounting, log_batch_accounting, setup_distributed

__all__ = [
    'batch_accounting', 'log_batch_accounting', 'prepare_config', 'run_demo',
    'setup_distributed'
]
