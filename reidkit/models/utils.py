"""Helpers shared by reidkit models."""
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.logging import MessageHub


def check_pretrained_file(init_cfg: Optional[Union[dict, list]],
                          owner: str) -> None:
    """Fail early, and clearly, when a local pretrained file is missing.

    mmengine only notices a missing checkpoint when the Runner initialises
    the weights; checking at build time names the file and the way out.
    URLs (``scheme://``) are left to mmengine.
    """
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    for cfg in cfgs:
        if not isinstance(cfg, dict) or cfg.get('type') != 'Pretrained':
            continue
        ckpt = cfg.get('checkpoint')
        if not isinstance(ckpt, str) or '://' in ckpt:
            continue
        if not osp.isfile(osp.expanduser(ckpt)):
            raise FileNotFoundError(
                f'{owner}: pretrained weights "{ckpt}" not found. reidkit '
                'never downloads weights: put the file there (e.g. '
                "torchvision's resnet50-0676ba61.pth, or "
                'resnet50_ibn_a-d9d0bb7b.pth for IBN-a), change '
                "init_cfg=dict(type='Pretrained', checkpoint=...) to its "
                'path, or set init_cfg=None to train from random '
                'initialisation.')


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite during training."""


def check_losses_finite(losses: dict) -> None:
    """Raise :class:`NonFiniteLossError` if any loss term is NaN or inf.

    The message names the iteration and epoch (from mmengine's message
    hub), every non-finite term with its value, the last checkpoint and
    what to try. Called before the optimiser step, so the weights are
    never updated with a non-finite loss and the last checkpoint stays the
    last good state.

    Only loss *values* are checked: under mixed precision a gradient
    overflow (inf gradients, finite loss) is handled by the loss scaler,
    which skips that step and lowers the scale.
    """
    bad = []
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, torch.Tensor) and not bool(
                    torch.isfinite(v.detach()).all()):
                bad.append(f'{name} = {v.detach().float().mean().item()}')
                break
    if not bad:
        return
    hub = MessageHub.get_current_instance()
    it, epoch = hub.get_info('iter'), hub.get_info('epoch')
    where = 'training'
    if it is not None:
        where = f'iteration {it + 1}'
        if epoch is not None:
            where += f' (epoch {epoch + 1})'
    last = hub.get_info('last_ckpt')
    kept = (f'The last checkpoint, {last}, is the last good state (the '
            'weights were not updated with this loss); resume from it '
            'after the fix.' if last else
            'No checkpoint has been written yet in this run.')
    raise NonFiniteLossError(
        f'Non-finite loss at {where}: {", ".join(bad)}. Training stopped. '
        f'{kept} Common causes: a learning rate that is too high, a loss '
        'temperature that is too small, or broken input images; '
        'mixed precision (--amp) can also overflow in the forward pass.')


class FiniteLossMixin:
    """Stop training on a NaN or infinite loss, before the optimiser step
    (see :func:`check_losses_finite`)."""

    def parse_losses(self, losses):
        check_losses_finite(losses)
        return super().parse_losses(losses)
