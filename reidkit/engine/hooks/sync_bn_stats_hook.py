"""Keep BatchNorm running statistics identical on every rank."""
import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from torch.nn.modules.batchnorm import _BatchNorm

from reidkit.registry import HOOKS


@HOOKS.register_module()
class SyncBNStatsHook(Hook):
    """Average the BatchNorm running means and variances over the ranks.

    Under DistributedDataParallel the parameters stay identical, but each
    rank updates its BatchNorm running statistics from its own images, so
    the ranks drift apart. reidkit's evaluation, its feature extraction for
    clustering and the checkpoints (written by rank 0) all use the running
    statistics, so this hook averages them over the ranks after every
    training epoch (before the checkpoint, validation and the next
    clustering) and before a validation that did not follow a training
    epoch. Only floating-point running statistics are touched; pseudo
    labels, memories and other buffers are kept identical by their owners.
    Does nothing in a single process. Part of every config's
    ``default_hooks`` (``sync_bn_stats``).
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self._synced = False

    @staticmethod
    def sync(model: torch.nn.Module) -> int:
        """Average the statistics in place; returns how many tensors."""
        world_size = get_world_size()
        if world_size == 1:
            return 0
        count = 0
        for module in model.modules():
            if not isinstance(module, _BatchNorm):
                continue
            for stat in (module.running_mean, module.running_var):
                if stat is not None and stat.is_floating_point():
                    all_reduce(stat, op='mean')
                    count += 1
        return count

    def after_train_epoch(self, runner) -> None:
        self.sync(runner.model)
        self._synced = True

    def before_val_epoch(self, runner) -> None:
        if not self._synced:
            self.sync(runner.model)
        self._synced = False

    def before_test_epoch(self, runner) -> None:
        self.sync(runner.model)
