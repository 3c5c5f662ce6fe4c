"""Helpers shared by reidkit models."""
import os.path as osp
from typing import Optional, Union


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
