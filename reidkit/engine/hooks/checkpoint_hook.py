"""mmengine's CheckpointHook with crash-safe saving."""
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook

from reidkit.registry import HOOKS

TMP_SUFFIX = '.tmp'


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so
    a reader sees the old or the new content, never a partial one."""
    tmp = path + TMP_SUFFIX
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@HOOKS.register_module()
class CheckpointHook(_MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook``, saving so that a crash at any moment
    leaves a usable checkpoint.

    reidkit registers it under the same name, so every config with
    ``default_scope = 'reidkit'`` and ``dict(type='CheckpointHook', ...)``
    gets it; the arguments are mmengine's. For checkpoints in a local
    directory it changes three things (other storage backends behave as in
    mmengine):

    1. A checkpoint is written to ``<name>.tmp``, flushed to disk and then
       renamed to ``<name>`` (an atomic step on POSIX file systems), so a
       kill during saving leaves the previous checkpoints untouched and
       never a truncated ``epoch_N.pth``.
    2. ``last_checkpoint`` (what ``--resume`` without a path reads) is
       replaced the same way, and only after the new checkpoint is
       complete.
    3. With ``max_keep_ckpts``, the oldest checkpoint is deleted *after*
       the new one is saved (mmengine deletes it before), so there is never
       a moment with fewer than one complete checkpoint on disk.

    A stale ``*.tmp`` file left by a killed run is overwritten by the next
    save of that name.
    """

    def _is_local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        ckpt_filename = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, ckpt_filename)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # The list of kept checkpoints goes into this checkpoint (the
        # message hub), so it already names the new one; the one it drops
        # is deleted only once the new one is on disk.
        dropped = self._update_kept(runner, step)

        # Save under a temporary name (the Runner writes on the main
        # process only), then rename.
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        tmp = final + TMP_SUFFIX
        _fsync(tmp)
        os.replace(tmp, final)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                          final)
        if dropped is not None:
            path = osp.join(self.out_dir, self.filename_tmpl.format(dropped))
            if osp.isfile(path):
                os.remove(path)

    def _update_kept(self, runner, step) -> Optional[int]:
        """Add ``step`` to the kept checkpoints; return the step whose
        checkpoint falls out of the list (to delete after saving)."""
        if self.max_keep_ckpts <= 0:
            return None
        if self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step:
            return None  # saved twice in one step (e.g. last + interval)
        dropped = None
        # keep_ckpt_ids is a deque with maxlen = max_keep_ckpts.
        if len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
            dropped = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return dropped
