"""A hook that kills its own process (SIGKILL) at a chosen point, for the
crash-recovery tests. Loaded with ``custom_imports``."""
import os
import signal

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook

from reidkit.registry import HOOKS


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class SigkillHook(Hook):
    """SIGKILL at ``point`` of epoch ``epoch`` (1-based, as in the names of
    checkpoints):

    - ``'iteration'``: after the first iteration of that epoch;
    - ``'saving'``: half-way through writing that epoch's checkpoint file
      (after half of its bytes are on disk);
    - ``'validation'``: when the validation after that epoch starts (the
      checkpoint is complete).
    """

    priority = 'HIGHEST'

    def __init__(self, point: str, epoch: int) -> None:
        self.point = point
        self.epoch = epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.point == 'iteration' and runner.epoch + 1 == self.epoch:
            _die()

    def before_save_checkpoint(self, runner, checkpoint):
        if self.point != 'saving' or checkpoint['meta']['epoch'] != \
                self.epoch:
            return

        def half_then_die(backend, obj, filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            _die()

        LocalBackend.put = half_then_die

    def before_val(self, runner):
        if self.point == 'validation' and runner.epoch == self.epoch:
            _die()
