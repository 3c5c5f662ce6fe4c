"""reidkit: unsupervised person and vehicle re-identification on mmengine."""
import mmengine

from .utils.compat import register_torch_safe_globals
from .version import (MMENGINE_MAX, MMENGINE_MIN, __version__,
                      parse_version_info, version_info)

_mmengine_version = parse_version_info(mmengine.__version__)
if not (parse_version_info(MMENGINE_MIN) <= _mmengine_version <
        parse_version_info(MMENGINE_MAX)):
    raise ImportError(
        f'reidkit {__version__} needs mmengine>={MMENGINE_MIN},'
        f'<{MMENGINE_MAX}, but mmengine {mmengine.__version__} is installed. '
        f'Install the pinned set with `pip install -r requirements.txt`.')

register_torch_safe_globals()

__all__ = ['__version__', 'version_info']
