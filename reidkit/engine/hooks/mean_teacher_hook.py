"""Mean-teacher updates, teacher selection and optimiser resets for MMT."""
from typing import Dict, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from reidkit.registry import HOOKS


def _unwrap(runner: Runner):
    model = runner.model
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Update the mean teachers after every iteration; pick the better one.

    * ``after_train_iter``: ``model.update_teachers()`` (one
      :class:`~reidkit.models.MeanTeacher` update per teacher, after the
      optimiser step, as in MMT).
    * ``after_val_epoch``: when both ``metric_keys`` are in the validation
      metrics, sets ``model.best_teacher`` to the teacher with the larger
      value (so ``predict``/``tensor`` and the saved checkpoints deploy
      it), logs the choice and adds ``best_key`` (the larger value) to the
      metrics, so ``CheckpointHook(save_best=best_key)`` keeps the best
      checkpoint of either teacher. MMT evaluates both teachers every epoch
      and keeps the better one.

    Args:
        metric_keys (Sequence[str]): The two teachers' metrics. Defaults to
            ('teacher1/mAP', 'teacher2/mAP').
        best_key (str): Name of the added metric. Defaults to 'best/mAP'.
    """

    # Before LoggerHook (BELOW_NORMAL) and CheckpointHook (VERY_LOW), so
    # both see ``best_key``.
    priority = 'NORMAL'

    def __init__(self,
                 metric_keys: Sequence[str] = ('teacher1/mAP',
                                               'teacher2/mAP'),
                 best_key: str = 'best/mAP') -> None:
        if len(metric_keys) != 2:
            raise ValueError('metric_keys must name the two teachers\' '
                             f'metrics, got {metric_keys!r}.')
        self.metric_keys = tuple(metric_keys)
        self.best_key = best_key

    def before_train(self, runner: Runner) -> None:
        model = _unwrap(runner)
        if not callable(getattr(model, 'update_teachers', None)):
            raise TypeError(
                f'MeanTeacherHook needs model.update_teachers(); '
                f'{type(model).__name__} has none (use MMT).')

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        _unwrap(runner).update_teachers()

    def after_val_epoch(self,
                        runner: Runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics or not all(k in metrics for k in self.metric_keys):
            return
        values = [float(metrics[k]) for k in self.metric_keys]
        best = int(values[1] > values[0])
        _unwrap(runner).best_teacher.fill_(best)
        metrics[self.best_key] = values[best]
        print_log(
            f'MeanTeacherHook: teacher {best + 1} is the better one '
            f'({self.metric_keys[0]} {values[0]:.4f}, {self.metric_keys[1]} '
            f'{values[1]:.4f}); predict() now uses it.',
            logger='current')


@HOOKS.register_module()
class OptimizerResetHook(Hook):
    """Clear the optimiser state before every ``interval``-th epoch.

    MMT creates a new Adam optimiser every epoch, after re-clustering, so the
    moment estimates of the re-initialised classifiers start from zero;
    clearing ``optimizer.state`` does the same without rebuilding it (the
    learning rate and the parameter groups are kept).

    Args:
        interval (int): Defaults to 1 (every epoch).
    """

    priority = 'LOW'  # after the PseudoLabelHook (NORMAL)

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        self.interval = interval

    def before_train_epoch(self, runner: Runner) -> None:
        if runner.epoch % self.interval:
            return
        wrappers = runner.optim_wrapper
        wrappers = (wrappers.values() if hasattr(wrappers, 'values') else
                    [wrappers])
        for wrapper in wrappers:
            wrapper.optimizer.state.clear()
