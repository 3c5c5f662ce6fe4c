"""Mean teacher: an exponential moving average of a network's weights."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import ExponentialMovingAverage

from reidkit.registry import MODELS


@MODELS.register_module()
class MeanTeacher(ExponentialMovingAverage):
    r"""MMT's mean teacher: a temporal average of a student's parameters.

    After every optimiser step (``update_parameters``, called by
    :class:`~reidkit.engine.MeanTeacherHook`), with ``t`` the number of
    earlier updates (the global iteration):

    .. math::
        \alpha_t = \min\left(1 - \frac{1}{t + 1},\ \alpha\right),\qquad
        \theta' \leftarrow \alpha_t\,\theta' + (1 - \alpha_t)\,\theta

    so the first update copies the student (:math:`\alpha_0 = 0`) and the
    weight on the old average ramps up to ``alpha`` (0.999) over the first
    1,000 updates (METHODS §3.2, step 6).

    Unlike mmengine's :class:`ExponentialMovingAverage` (which copies the
    student's buffers at every update), only **parameters** are averaged;
    the teacher's buffers (BatchNorm running statistics) are its own: the
    teacher runs in train mode on every batch and updates them itself, as in
    the reference code. ``alpha`` is the weight kept on the old average
    (mmengine's ``momentum`` is ``1 - alpha``). The update counter is the
    ``steps`` buffer, so it is saved in checkpoints and resumes.

    Args:
        model (nn.Module): The student to average (deep-copied).
        alpha (float): Largest weight on the old average, in (0, 1).
            Defaults to 0.999.
        interval (int): Update every this many calls. Defaults to 1.
        device (torch.device, optional): Defaults to None (the student's).
    """

    def __init__(self,
                 model: nn.Module,
                 alpha: float = 0.999,
                 interval: int = 1,
                 device: Optional[torch.device] = None) -> None:
        if not 0 < alpha < 1:
            raise ValueError(
                f'MeanTeacher alpha (the weight on the old average) must be '
                f'in (0, 1), got {alpha}; MMT uses 0.999.')
        super().__init__(
            model,
            momentum=1 - alpha,
            interval=interval,
            device=device,
            update_buffers=False)
        self.alpha = alpha

    def avg_func(self, averaged_param: torch.Tensor,
                 source_param: torch.Tensor, steps: int) -> None:
        alpha = min(1 - 1 / (int(steps) + 1), self.alpha)
        averaged_param.mul_(alpha).add_(source_param, alpha=1 - alpha)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Average ``model``'s parameters into the teacher's (not buffers)."""
        source = dict(model.named_parameters())
        if set(source) != set(self.avg_parameters):
            raise ValueError(
                'MeanTeacher.update_parameters: the student and the teacher '
                'have different parameters.')
        steps = int(self.steps)
        for name, avg in self.avg_parameters.items():
            src = source[name].detach().to(avg.device)
            if steps == 0:
                avg.copy_(src)
            elif steps % self.interval == 0:
                self.avg_func(avg, src, steps)
        self.steps += 1
