"""Config preparation shared by tools/train.py, tools/test.py and the demo."""
from mmengine.config import Config, ConfigDict

from .config_check import check_config

_PK_SAMPLERS = ('IdentitySampler', 'reidkit.IdentitySampler')


def _sync_sampler_batch_size(loader: ConfigDict, name: str) -> None:
    sampler = loader.get('sampler')
    if not isinstance(sampler, dict) or sampler.get('type') not in \
            _PK_SAMPLERS:
        return
    batch_size = loader.get('batch_size')
    given = sampler.get('batch_size')
    if given is None:
        sampler['batch_size'] = batch_size
    elif given != batch_size:
        raise ValueError(
            f'{name}.sampler.batch_size ({given}) differs from '
            f'{name}.batch_size ({batch_size}); P x K batches need them '
            'equal. Set only the dataloader batch_size.')


def prepare_config(cfg: Config) -> Config:
    """Fill in values derived from other keys and check cross-key rules.

    - ``IdentitySampler.batch_size`` is taken from its dataloader's
      ``batch_size`` (one source of truth for P x K batches).
    - :func:`~reidkit.apis.config_check.check_config` reports unknown
      component types and arguments (with the closest names), missing
      required arguments and contradictory settings, before anything is
      built or any data is read.

    Returns the same (modified) config.
    """
    for name in ('train_dataloader', ):
        loader = cfg.get(name)
        if isinstance(loader, dict):
            _sync_sampler_batch_size(loader, name)
    check_config(cfg)
    return cfg
