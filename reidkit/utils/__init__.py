from .compat import register_torch_safe_globals
from .misc import get_ori_model
from .setup_env import register_all_modules

__all__ = ['register_torch_safe_globals', 'get_ori_model',
           'register_all_modules']
