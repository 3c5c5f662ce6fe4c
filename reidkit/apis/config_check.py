"""Check a config before anything is built or any data is read.

:func:`check_config` reports, all at once:

- component types that are not registered, with the closest registered
  names ("did you mean");
- arguments a component does not take (with the closest ones) and
  arguments it needs that the config does not give;
- top-level keys that look like misspelt Runner keys (``custom_hook``);
- contradictory settings: a P x K batch that is not a multiple of K, a
  BatchNorm group size that does not divide the batch, a pseudo-label hook
  whose train sampler cannot take labels.
"""
import difflib
import inspect
from typing import Iterable, List, Optional, Set, Tuple

from mmengine.config import Config
from mmengine.registry import Registry

from reidkit import registry as R


class ConfigError(ValueError):
    """A config mistake found before the Runner is built."""


#: Keys that mmengine's ``Runner.from_cfg`` reads (plus reidkit's own).
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'vis_backends', 'custom_imports', 'cfg')

# Arguments a builder injects (so a config need not give them).
_INJECTED = {
    'sampler': {'dataset', 'seed'},
    'optimizer': {'params'},
}


def _all_names(registry: Registry) -> Set[str]:
    """Registered names visible from ``registry`` (its own, its parent's
    and, with a scope prefix, its siblings')."""
    registry.import_from_location()
    names = set(registry.module_dict)
    root = registry.parent
    if root is not None:
        names |= set(root.module_dict)
        for scope, child in root.children.items():
            if child is not registry:
                names |= {f'{scope}.{n}' for n in child.module_dict}
    return names


def closest_names(name: str, candidates: Iterable[str],
                  n: int = 3) -> List[str]:
    """The registered names closest to ``name`` (case-insensitive, also
    matching the part after a scope prefix)."""
    candidates = sorted(set(candidates))
    lower = {c.lower(): c for c in candidates}
    short = {c.split('.')[-1].lower(): c for c in candidates}
    key = name.split('.')[-1].lower()
    found = []
    for pool in (lower, short):
        for match in difflib.get_close_matches(key, list(pool), n=n,
                                               cutoff=0.6):
            if pool[match] not in found:
                found.append(pool[match])
    return found[:n]


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = closest_names(name, candidates)
    if close:
        return ' Did you mean ' + ' or '.join(repr(c) for c in close) + '?'
    return ''


class _Checker:

    def __init__(self) -> None:
        self.problems: List[str] = []

    def resolve(self, cfg: dict, where: str, registry: Registry,
                what: str) -> Optional[type]:
        obj_type = cfg.get('type')
        if obj_type is None:
            self.problems.append(f'{where} has no "type" (a registered '
                                 f'{what} name).')
            return None
        if not isinstance(obj_type, str):
            return obj_type if inspect.isclass(obj_type) else None
        cls = registry.get(obj_type)
        if cls is None:
            self.problems.append(
                f'{where}.type={obj_type!r} is not a registered {what}.'
                + _suggest(obj_type, _all_names(registry)))
        return cls if inspect.isclass(cls) else None

    def arguments(self, cfg: dict, where: str, cls: type,
                  injected: Set[str] = frozenset(),
                  required: bool = True) -> None:
        """Unknown keys (when the class takes no ``**kwargs``) and
        missing required ones."""
        try:
            sig = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            return
        params = list(sig.parameters.values())[1:]
        names = {p.name for p in params
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
        given = {k for k in cfg if k not in ('type', '_scope_')}
        if not takes_kwargs:
            for key in sorted(given - names):
                self.problems.append(
                    f'{where}: {cls.__name__} has no argument {key!r}.'
                    + _suggest(key, names))
        if required:
            for p in params:
                if (p.default is p.empty and p.kind in (
                        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                        and p.name not in given and p.name not in injected):
                    self.problems.append(
                        f'{where}: {cls.__name__} needs {p.name!r}, which '
                        'the config does not give.')

    # ------------------------------------------------------------------
    def model(self, cfg, where: str, top: bool = False) -> None:
        if not isinstance(cfg, dict) or 'type' not in cfg:
            return
        cls = self.resolve(cfg, where, R.MODELS, 'model component')
        if cls is not None:
            # Sub-modules get arguments such as in_channels or num_classes
            # from their parent, so only the algorithm's are required.
            self.arguments(cfg, where, cls, required=top)
        for key, value in cfg.items():
            if key == 'init_cfg':
                continue
            if isinstance(value, dict) and 'type' in value:
                self.model(value, f'{where}.{key}')
            elif isinstance(value, dict):  # e.g. pair_losses={name: cfg}
                for name, sub in value.items():
                    if isinstance(sub, dict) and 'type' in sub:
                        self.model(sub, f'{where}.{key}.{name}')

    def dataset(self, cfg, where: str) -> Optional[type]:
        if not isinstance(cfg, dict):
            return None
        cls = self.resolve(cfg, where, R.DATASETS, 'dataset')
        if cls is not None:
            self.arguments(cfg, where, cls)
        for i, transform in enumerate(cfg.get('pipeline') or []):
            self.transform(transform, f'{where}.pipeline[{i}]')
        if isinstance(cfg.get('dataset'), dict):
            self.dataset(cfg['dataset'], f'{where}.dataset')
        for i, sub in enumerate(cfg.get('datasets') or []):
            self.dataset(sub, f'{where}.datasets[{i}]')
        return cls

    def transform(self, cfg, where: str) -> None:
        if not isinstance(cfg, dict):
            return
        cls = self.resolve(cfg, where, R.TRANSFORMS, 'transform')
        if cls is not None:
            self.arguments(cfg, where, cls)
        for i, sub in enumerate(cfg.get('transforms') or []):
            self.transform(sub, f'{where}.transforms[{i}]')

    def dataloader(self, cfg, where: str) -> Optional[type]:
        """Checks the loader; returns its sampler class."""
        if not isinstance(cfg, dict):
            return None
        if 'dataset' not in cfg:
            self.problems.append(f'{where} has no "dataset".')
        else:
            self.dataset(cfg['dataset'], f'{where}.dataset')
        sampler_cls = None
        for key in ('sampler', 'batch_sampler'):
            sampler = cfg.get(key)
            if isinstance(sampler, dict):
                cls = self.resolve(sampler, f'{where}.{key}',
                                   R.DATA_SAMPLERS, 'data sampler')
                if cls is not None:
                    self.arguments(sampler, f'{where}.{key}', cls,
                                   injected=_INJECTED['sampler'])
                    if key == 'sampler':
                        sampler_cls = cls
        return sampler_cls

    def hook(self, cfg, where: str) -> Optional[type]:
        if not isinstance(cfg, dict):
            return None
        cls = self.resolve(cfg, where, R.HOOKS, 'hook')
        if cls is not None:
            self.arguments(cfg, where, cls)
        clusterer = cfg.get('clusterer')
        if isinstance(clusterer, dict):
            ccls = self.resolve(clusterer, f'{where}.clusterer',
                                R.CLUSTERERS, 'clusterer')
            if ccls is not None:
                self.arguments(clusterer, f'{where}.clusterer', ccls)
        if isinstance(cfg.get('dataloader'), dict):
            self.dataloader(cfg['dataloader'], f'{where}.dataloader')
        return cls

    def evaluator(self, cfg, where: str) -> None:
        metrics = cfg if isinstance(cfg, (list, tuple)) else [cfg]
        for i, metric in enumerate(metrics):
            if not isinstance(metric, dict):
                continue
            name = where if len(metrics) == 1 else f'{where}[{i}]'
            if metric.get('type') in ('Evaluator', 'mmengine.Evaluator'):
                self.evaluator(metric.get('metrics', []), f'{name}.metrics')
                continue
            cls = self.resolve(metric, name, R.METRICS, 'metric')
            if cls is not None:
                self.arguments(metric, name, cls)


def _top_level_typos(cfg: Config) -> List[str]:
    problems = []
    for key in sorted(cfg.keys()):
        if key in RUNNER_KEYS or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, RUNNER_KEYS, n=1,
                                          cutoff=0.85)
        if close and close[0] not in cfg:
            problems.append(
                f'Top-level key {key!r} is not read by the Runner (it '
                f'would be ignored). Did you mean {close[0]!r}?')
    return problems


def _contradictions(cfg: Config, sampler_cls: Optional[type],
                    hook_classes: List[Tuple[str, type]]) -> List[str]:
    problems = []
    loader = cfg.get('train_dataloader') or {}
    batch = loader.get('batch_size')
    sampler = loader.get('sampler') or {}
    k = sampler.get('num_instances') if isinstance(sampler, dict) else None
    if (isinstance(batch, int) and isinstance(k, int) and k > 0
            and batch % k):
        problems.append(
            f'train_dataloader.batch_size ({batch}) is not a multiple of '
            f'train_dataloader.sampler.num_instances ({k}): P x K batches '
            f'need batch_size = P x K (e.g. {batch - batch % k or k}).')
    bn = (cfg.get('model') or {}).get('bn_samples')
    if isinstance(batch, int) and isinstance(bn, int) and bn > 0 and \
            batch % bn:
        problems.append(
            f'model.bn_samples ({bn}) does not divide '
            f'train_dataloader.batch_size ({batch}); every BatchNorm group '
            'must be full (docs/distributed.md).')
    for where, cls in hook_classes:
        if cls.__name__ == 'PseudoLabelHook' and sampler_cls is not None \
                and not callable(getattr(sampler_cls, 'set_labels', None)):
            problems.append(
                f'{where} is a PseudoLabelHook, but the train sampler '
                f'{sampler_cls.__name__} cannot take pseudo labels (no '
                'set_labels); use IdentitySampler.')
    return problems


def check_config(cfg: Config) -> None:
    """Check a config's components and settings; raise :class:`ConfigError`
    listing every problem found (nothing is built, no data is read).

    Only the positions the Runner builds from a registry are checked:
    ``model`` (and its nested components), the dataloaders' datasets,
    pipelines and samplers, ``default_hooks`` and ``custom_hooks`` (with a
    hook's ``clusterer`` and ``dataloader``), the evaluators and the
    optimiser.
    """
    c = _Checker()
    if isinstance(cfg.get('model'), dict):
        c.model(cfg.model, 'model', top=True)
    train_sampler = None
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(cfg.get(name), dict):
            cls = c.dataloader(cfg[name], name)
            if name == 'train_dataloader':
                train_sampler = cls
    hook_classes = []
    default_hooks = cfg.get('default_hooks') or {}
    for key, hook in default_hooks.items():
        cls = c.hook(hook, f'default_hooks.{key}')
        if cls is not None:
            hook_classes.append((f'default_hooks.{key}', cls))
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        cls = c.hook(hook, f'custom_hooks[{i}]')
        if cls is not None:
            hook_classes.append((f'custom_hooks[{i}]', cls))
    for name in ('val_evaluator', 'test_evaluator'):
        if cfg.get(name):
            c.evaluator(cfg[name], name)
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict):
        if 'type' in optim:
            c.resolve(optim, 'optim_wrapper', R.OPTIM_WRAPPERS,
                      'optimizer wrapper')
        opt = optim.get('optimizer')
        if isinstance(opt, dict):
            cls = c.resolve(opt, 'optim_wrapper.optimizer', R.OPTIMIZERS,
                            'optimizer')
            if cls is not None:
                c.arguments(opt, 'optim_wrapper.optimizer', cls,
                            injected=_INJECTED['optimizer'])
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if isinstance(sched, dict):
            c.resolve(sched, f'param_scheduler[{i}]', R.PARAM_SCHEDULERS,
                      'parameter scheduler')
    problems = (_top_level_typos(cfg) + c.problems +
                _contradictions(cfg, train_sampler, hook_classes))
    if problems:
        source = getattr(cfg, 'filename', None)
        head = f'The config{f" {source}" if source else ""} has ' \
            f'{len(problems)} problem(s):'
        raise ConfigError('\n'.join([head] + [f'  - {p}' for p in problems]))
