"""Re-seed every random number generator before every training epoch."""
import logging
import random
from functools import partial
from typing import Optional

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner

from reidkit.registry import HOOKS

#: Streams of :func:`epoch_seed`: the main process and the dataloader
#: workers get unrelated seeds.
MAIN_STREAM = 0
WORKER_STREAM = 1


def epoch_seed(seed: int,
               epoch: int,
               rank: int = 0,
               stream: int = MAIN_STREAM) -> int:
    """A seed in ``[0, 2**31)`` derived from ``(seed, epoch, rank,
    stream)``.

    The four integers are hashed by :class:`numpy.random.SeedSequence`, so
    neighbouring epochs, ranks or base seeds give unrelated seeds (not
    ``seed + epoch``, whose streams would overlap between runs).

    Args:
        seed (int): The run's seed (``runner.seed``).
        epoch (int): The epoch (0-based).
        rank (int): The process rank. Defaults to 0.
        stream (int): Which stream: :data:`MAIN_STREAM` or
            :data:`WORKER_STREAM`. Defaults to :data:`MAIN_STREAM`.

    Returns:
        int: The seed. Below ``2**31``, so that mmengine's
        ``worker_init_fn`` may add the worker offset and still give numpy a
        valid (``< 2**32``) seed.
    """
    entropy = [int(v) % (1 << 64) for v in (seed, epoch, rank, stream)]
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint32)
    return int(state[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (the CPU
    generator and every GPU's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _is_default_worker_init(fn) -> bool:
    """Whether ``fn`` is None or mmengine's ``worker_init_fn`` (bound with
    ``functools.partial``, as ``Runner.build_dataloader`` does)."""
    return fn is None or (isinstance(fn, partial)
                          and fn.func is mmengine_worker_init_fn)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed the random number generators before every training epoch.

    mmengine seeds the generators once, when the runner is built, and does
    not save their states in checkpoints. Everything random in an epoch
    (the augmentations of the train pipeline when ``num_workers=0``, batch
    augmentations such as random erasing, the base seed a dataloader draws
    when its iterator is created, ...) then depends on all the random draws
    since the start of the run, including those of validation and of the
    PseudoLabelHook's extraction dataloader, so a resumed run draws
    different numbers from an uninterrupted one. Saving the states at
    checkpoint time would not help either: mmengine validates *after* it
    writes the epoch's checkpoint, so the uninterrupted run's next epoch
    starts from a state that no checkpoint holds.

    This hook makes the streams a function of the epoch. Before every
    training epoch (priority ``VERY_HIGH``: before the PseudoLabelHook
    extracts features and before the train dataloader's iterator is
    created) it

    * seeds python's ``random``, numpy's global RNG and torch (CPU and
      every GPU) with :func:`epoch_seed` ``(runner.seed, epoch, rank)``;
    * when the train dataloader has worker processes that are started
      anew every epoch (``persistent_workers=False``), replaces its
      ``worker_init_fn`` by mmengine's with the seed
      ``epoch_seed(runner.seed, epoch, 0, WORKER_STREAM)`` (mmengine adds
      ``num_workers * rank + worker_id``). mmengine's own
      ``worker_init_fn`` uses ``runner.seed`` every epoch, so the workers
      would repeat the same augmentations each epoch; here they differ
      from epoch to epoch and are the same again after a resume. A custom
      ``worker_init_fn`` (the dataloader config's ``worker_init_fn``) is
      left alone.

    A run resumed from the checkpoint of epoch ``e`` therefore draws the
    same random numbers in epochs ``e + 1, ...`` as the uninterrupted run
    did, and (with the model, buffers, optimiser, scheduler and sampler
    restored from the checkpoint) trains bit for bit the same on the same
    hardware and software, given deterministic kernels.

    Persistent workers (``persistent_workers=True`` with ``num_workers >
    0``) are started once and keep their generators across epochs; they
    cannot be re-seeded, so a resumed run's worker augmentations differ
    from the uninterrupted run's (statistically they are equivalent). The
    hook warns once when such a run is resumed. For a bit-exact resume use
    ``num_workers=0`` or ``persistent_workers=False``. The hook is meant
    for ``EpochBasedTrainLoop``, which resumes at epoch boundaries; it also
    warns when a run resumes from a checkpoint written in the middle of an
    epoch (mmengine then replays that epoch from its start).

    Args:
        diff_rank_seed (bool): Give every rank its own seeds (the rank is
            hashed in), so that the ranks draw independent augmentations.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, diff_rank_seed: bool = True) -> None:
        self.diff_rank_seed = diff_rank_seed
        self._checked_resume = False
        #: The seed of the current epoch's main process.
        self.last_seed: Optional[int] = None

    def before_train(self, runner: Runner) -> None:
        self._checked_resume = False

    def _rank(self) -> int:
        return get_rank() if self.diff_rank_seed else 0

    def _check_resume(self, runner: Runner, loader) -> None:
        """Warn once when a resumed run cannot be exactly reproduced."""
        self._checked_resume = True
        if runner.epoch == 0 and runner.iter == 0:
            return  # a fresh run
        if loader.num_workers > 0 and loader.persistent_workers:
            print_log(
                'EpochSeedHook: this run resumes at epoch '
                f'{runner.epoch} with persistent dataloader workers '
                f'(num_workers={loader.num_workers}, '
                'persistent_workers=True), whose random generators cannot '
                'be reset per epoch; the augmentations drawn in the workers '
                'differ from those of an uninterrupted run (statistically '
                'equivalent). For a bit-exact resume set num_workers=0 or '
                'persistent_workers=False in train_dataloader.',
                logger='current',
                level=logging.WARNING)
        try:
            per_epoch = len(loader)
        except TypeError:  # an iterable dataset without a length
            per_epoch = None
        if per_epoch and runner.iter != runner.epoch * per_epoch:
            print_log(
                f'EpochSeedHook: the run resumes at iteration {runner.iter}, '
                f'which is not the end of epoch {runner.epoch} '
                f'({per_epoch} iterations per epoch): the checkpoint was '
                'written in the middle of an epoch, and mmengine restarts '
                'that epoch from its beginning, so the run does not '
                'continue exactly as an uninterrupted one would. Save '
                'checkpoints by epoch for an exact resume.',
                logger='current',
                level=logging.WARNING)

    def before_train_epoch(self, runner: Runner) -> None:
        loader = runner.train_dataloader
        if not self._checked_resume:
            self._check_resume(runner, loader)
        rank = self._rank()
        self.last_seed = epoch_seed(runner.seed, runner.epoch, rank)
        seed_everything(self.last_seed)
        num_workers = getattr(loader, 'num_workers', 0)
        if (num_workers > 0 and not loader.persistent_workers
                and _is_default_worker_init(loader.worker_init_fn)):
            old = loader.worker_init_fn
            keywords = dict(old.keywords) if old is not None else {}
            keywords.update(
                num_workers=num_workers,
                rank=get_rank(),
                seed=epoch_seed(runner.seed, runner.epoch, 0,
                                WORKER_STREAM))
            loader.worker_init_fn = partial(mmengine_worker_init_fn,
                                            **keywords)
