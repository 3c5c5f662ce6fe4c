"""Adapt BatchNorm statistics to the target domain during source training."""
import copy
from typing import Iterator, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from reidkit.registry import HOOKS


@HOOKS.register_module()
class TargetBNAdaptHook(Hook):
    """Forward an unlabelled target-domain batch before every iteration.

    MMT's source pre-training (stage I) also feeds, at every iteration, a
    batch of *target-domain* images through the network in train mode and
    discards the output, so that the BatchNorm running statistics adapt to
    the target domain while the weights are learnt on the labelled source.
    This hook does that: before each train iteration (every ``interval``
    iterations, starting with the first) it takes the next batch of its
    own target dataloader, runs ``model.data_preprocessor(batch, True)``
    and then ``model.extract_feat(inputs)`` in train mode under
    ``torch.no_grad()``. No loss and no gradient; only the BN running
    statistics (and any other train-mode buffers) change. A multi-view
    batch forwards each view.

    The target dataloader is built in ``before_train`` with the runner's
    seed and cycled: when it is exhausted its sampler's ``set_epoch`` is
    called (if it has one) and it restarts. Its position is not saved in
    checkpoints but follows from the iteration count: a resumed run sets
    the sampler's epoch to the pass it was in and skips the batches of
    that pass already used (loading them once, in ``before_train``), so it
    continues with the same target batches as an uninterrupted run.

    Example::

        custom_hooks = [
            dict(type='TargetBNAdaptHook',
                 dataloader=dict(
                     batch_size=64, num_workers=2,
                     dataset=dict(type='SyntheticReID', style='other',
                                  pipeline=train_pipeline))),
        ]

    Args:
        dataloader (dict): Dataloader config over the target train set
            (its labels are not used), usually with the train pipeline. Its
            sampler defaults to ``dict(type='DefaultSampler',
            shuffle=True)``.
        interval (int): Forward a target batch before every this many
            iterations (when ``runner.iter % interval == 0``). Defaults
            to 1.
    """

    priority = 'NORMAL'

    _EMPTY = ('TargetBNAdaptHook: the target dataloader yields no batch '
              '(an empty dataset, or drop_last with fewer images than '
              'batch_size).')

    def __init__(self,
                 dataloader: Optional[dict] = None,
                 interval: int = 1) -> None:
        if dataloader is None:
            raise ValueError(
                'TargetBNAdaptHook needs dataloader=dict(dataset=..., '
                'batch_size=...) over the target-domain train set.')
        if not isinstance(dataloader, dict):
            raise TypeError(
                'TargetBNAdaptHook: dataloader must be a config dict, got '
                f'{type(dataloader).__name__}.')
        if isinstance(interval, bool) or not isinstance(interval, int) \
                or interval < 1:
            raise ValueError(
                f'TargetBNAdaptHook: interval must be an int >= 1, got '
                f'{interval!r}.')
        self.dataloader_cfg = copy.deepcopy(dict(dataloader))
        self.dataloader_cfg.setdefault(
            'sampler', dict(type='DefaultSampler', shuffle=True))
        self.interval = interval
        self.loader = None
        self._iter: Optional[Iterator] = None
        self._loader_epoch = 0
        #: How many target batches have been forwarded.
        self.num_batches = 0

    @staticmethod
    def _model(runner: Runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner: Runner) -> None:
        model = self._model(runner)
        if not callable(getattr(model, 'extract_feat', None)):
            raise TypeError(
                'TargetBNAdaptHook needs model.extract_feat(inputs); '
                f'{type(model).__name__} has none. Use a reidkit algorithm '
                '(a BaseReIDModel subclass).')
        self.loader = runner.build_dataloader(
            copy.deepcopy(self.dataloader_cfg), seed=runner.seed)
        try:
            num_batches = len(self.loader)
        except TypeError:  # an iterable dataset: no length
            num_batches = None
        if num_batches == 0:
            raise ValueError(self._EMPTY)
        self._iter = None
        self._loader_epoch = 0
        if runner.iter > 0 and num_batches is not None:
            self._seek(-(-runner.iter // self.interval), num_batches)

    def _seek(self, used: int, num_batches: int) -> None:
        """Continue after the first ``used`` batches of the cycled stream
        (a resumed run)."""
        self._loader_epoch, skip = divmod(used, num_batches)
        sampler = getattr(self.loader, 'sampler', None)
        if self._loader_epoch and callable(
                getattr(sampler, 'set_epoch', None)):
            sampler.set_epoch(self._loader_epoch)
        if skip:
            # Created now, before the first resumed epoch re-seeds the
            # random generators; with skip == 0 the iterator is created
            # lazily, where the uninterrupted run created it.
            self._iter = iter(self.loader)
            for _ in range(skip):
                next(self._iter)

    def _next_batch(self):
        if self._iter is None:
            self._iter = iter(self.loader)
        try:
            return next(self._iter)
        except StopIteration:
            pass
        self._loader_epoch += 1
        sampler = getattr(self.loader, 'sampler', None)
        if callable(getattr(sampler, 'set_epoch', None)):
            sampler.set_epoch(self._loader_epoch)
        self._iter = iter(self.loader)
        try:
            return next(self._iter)
        except StopIteration:
            raise RuntimeError(self._EMPTY) from None

    @torch.no_grad()
    def adapt(self, runner: Runner) -> None:
        """Forward the next target batch in train mode, without gradient."""
        if self.loader is None:
            raise RuntimeError(
                'TargetBNAdaptHook: the target dataloader is not built; '
                'before_train must run first.')
        model = self._model(runner)
        batch = self._next_batch()
        was_training = model.training
        model.train()
        try:
            data = model.data_preprocessor(batch, True)
            inputs = data['inputs']
            views = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            for view in views:
                model.extract_feat(view)
        finally:
            model.train(was_training)
        self.num_batches += 1

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if runner.iter % self.interval == 0:
            self.adapt(runner)

    def after_train(self, runner: Runner) -> None:
        # Release the iterator (and its worker processes, if any).
        self._iter = None
