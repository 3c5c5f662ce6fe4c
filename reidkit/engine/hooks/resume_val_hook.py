"""Redo, on resume, the validation that followed the resumed checkpoint."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, Runner

from reidkit.registry import HOOKS


def validated_after_epoch(runner: Runner, epoch: int) -> bool:
    """Whether ``runner``'s epoch-based train loop validates right after
    finishing ``epoch`` epochs (the rule of ``EpochBasedTrainLoop.run``)."""
    loop = runner.train_loop
    if runner.val_loop is None or not isinstance(loop, EpochBasedTrainLoop):
        return False
    if epoch < loop.val_begin:
        return False
    loop._decide_current_val_interval()  # the interval at ``epoch``
    return epoch % loop.val_interval == 0 or epoch == loop.max_epochs


@HOOKS.register_module()
class ResumeValHook(Hook):
    """On resume, run the validation that followed the resumed checkpoint.

    mmengine writes the checkpoint of epoch ``e`` (``CheckpointHook``,
    ``after_train_epoch``) *before* it validates after epoch ``e``. What
    that validation changes is therefore in no checkpoint: MMT's
    ``best_teacher`` (set by the MeanTeacherHook, and used by ``predict``
    and the deployed model), the best score and best checkpoint of
    ``CheckpointHook(save_best=...)``, metric-driven parameter schedulers,
    and the epoch's logged metrics. A run resumed from ``epoch_e.pth``
    would go on without them.

    When the run resumes at the end of an epoch after which the train loop
    validates, this hook runs that validation once more, at the end of
    ``before_train`` (priority ``LOWEST``: after every other hook is set
    up, e.g. the CheckpointHook's best-checkpoint bookkeeping) and so
    before the first resumed epoch. Validation is deterministic given the
    weights, and the :class:`EpochSeedHook` re-seeds the random generators
    at the start of the epoch, so the resumed run then continues exactly as
    an uninterrupted one. It costs one validation per resume and does
    nothing in a run that starts from scratch or without a validation
    loop.
    """

    priority = 'LOWEST'

    def before_train(self, runner: Runner) -> None:
        epoch = runner.epoch
        if epoch == 0 or not validated_after_epoch(runner, epoch):
            return
        print_log(
            f'ResumeValHook: the checkpoint of epoch {epoch} was written '
            'before the validation that followed that epoch; validating '
            'again so that what it sets (best checkpoint score, MMT\'s best '
            'teacher, metric-driven schedulers) is as in an uninterrupted '
            'run.',
            logger='current')
        runner.val_loop.run()
