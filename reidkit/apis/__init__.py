from .config import prepare_config
from .config_check import ConfigError, check_config
from .demo import run_demo
from .dist import batch_accounting, log_batch_accounting, setup_distributed
from .inference import extract_features, init_model, list_images
from .retrieval import retrieve

__all__ = [
    'ConfigError', 'batch_accounting', 'check_config', 'extract_features',
    'init_model', 'list_images', 'log_batch_accounting', 'prepare_config',
    'retrieve', 'run_demo', 'setup_distributed'
]
