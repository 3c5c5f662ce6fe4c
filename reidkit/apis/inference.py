"""Inference API: build a trained model and embed images with it.

Example:
    >>> from reidkit.apis import init_model, extract_features
    >>> model = init_model('configs/cluster_contrast/cc_r50_market1501.py',
    ...                    'work_dirs/cc/epoch_50.pth', device='cuda:0')
    >>> feats, paths = extract_features(model, 'path/to/crops',
    ...                                 return_paths=True)  # N x D, L2-normed
"""
import copy
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MMLogger
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

from reidkit.datasets.base_reid_dataset import IMG_EXTENSIONS
from reidkit.registry import MODELS, TRANSFORMS
from reidkit.utils import register_all_modules

ImageInput = Union[str, np.ndarray]

_LOADERS = ('LoadImageFromFile', 'mmcv.LoadImageFromFile')


def _load_config(config: Union[str, Config],
                 cfg_options: Optional[dict]) -> Config:
    if isinstance(config, (str, os.PathLike)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config file "{config}" does not exist.')
        cfg = Config.fromfile(os.fspath(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError('config must be a file path or an mmengine Config, '
                        f'got {type(config).__name__}.')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'The config {getattr(cfg, "filename", "")} has no '
                       '"model" section to build.')
    return cfg


def test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The test pipeline of a config (``test_dataloader``, else
    ``val_dataloader``), as a list of transform configs."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline'):
            return copy.deepcopy(list(loader['dataset']['pipeline']))
    raise KeyError(
        'The config has no test_dataloader.dataset.pipeline (nor a '
        'val_dataloader one), so reidkit does not know how to resize and '
        'pack an image for this model. Add a test pipeline to the config.')


def drop_pretrained_init(model_cfg: dict) -> dict:
    """Set every ``init_cfg=dict(type='Pretrained', ...)`` in a model config
    to None (in place; returns it).

    Used when a checkpoint supplies every weight: the ImageNet file that a
    config names for training need not exist where the model is used.
    """
    if isinstance(model_cfg, dict):
        init = model_cfg.get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained'
               for i in inits):
            model_cfg['init_cfg'] = None
        for value in model_cfg.values():
            drop_pretrained_init(value)
    elif isinstance(model_cfg, (list, tuple)):
        for value in model_cfg:
            drop_pretrained_init(value)
    return model_cfg


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of a config, load a checkpoint, move it to a device.

    The model is in eval mode. Its config is kept as ``model.cfg`` and the
    config's test pipeline as ``model.pipeline`` (used by
    :func:`extract_features`).

    With a checkpoint, the config's ``init_cfg=dict(type='Pretrained')``
    entries are dropped (the checkpoint is loaded strictly and supplies
    every weight), so the ImageNet file need not exist.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): A checkpoint from ``tools/train.py``
            (or any file whose ``state_dict`` matches the model). Without
            it the model gets its initial weights from ``init_weights()``
            (the config's ``init_cfg``, e.g. ImageNet weights).
        device (str | torch.device): Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides, e.g.
            ``{'model.test_cfg.flip': True}``.

    Returns:
        torch.nn.Module: The model.
    """
    register_all_modules(init_default_scope=False)
    cfg = _load_config(config, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if checkpoint is not None:
        drop_pretrained_init(model_cfg)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'Checkpoint "{checkpoint}" does not exist.')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    else:
        # mmengine logs every parameter's init at INFO; keep the tool quiet.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    model.cfg = cfg
    model.pipeline = test_pipeline_cfg(cfg)
    model.to(device)
    model.eval()
    return model


def list_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive, sorted by relative path)."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Image folder "{folder}" does not exist.')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMG_EXTENSIONS):
                found.append(osp.join(root, name))
    if not found:
        raise FileNotFoundError(
            f'No images ({", ".join(IMG_EXTENSIONS)}) under "{folder}".')
    return found


def normalise_image_inputs(images) -> List[ImageInput]:
    """A folder, path, array or list of them -> a list of paths and
    arrays (a folder's images in :func:`list_images` order), checked."""
    if isinstance(images, (str, os.PathLike)):
        path = os.fspath(images)
        if osp.isdir(path):
            return list_images(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image "{path}" does not exist.')
        return [path]
    if isinstance(images, np.ndarray):
        return [images]
    if not isinstance(images, Sequence) or isinstance(images, bytes):
        raise TypeError('images must be a folder, an image path, an HxWx3 '
                        'BGR uint8 array or a list of paths/arrays, got '
                        f'{type(images).__name__}.')
    out = []
    for i, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            if not osp.isfile(item):
                raise FileNotFoundError(f'Image "{item}" does not exist.')
            out.append(os.fspath(item))
        elif isinstance(item, np.ndarray):
            out.append(item)
        else:
            raise TypeError(f'images[{i}] is a {type(item).__name__}; give '
                            'image paths or HxWx3 BGR uint8 arrays.')
    return out


def _check_array(img: np.ndarray, index: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f'Image array {index} has shape {img.shape}; '
                         'expected H x W x 3 (BGR, as cv2.imread gives).')
    return np.ascontiguousarray(img[..., :3])


class ImagePipeline:
    """A config's test pipeline, applied to an image path or an H x W x 3
    BGR array (the loading step is skipped for arrays)."""

    def __init__(self, pipeline_cfg: Sequence[dict]) -> None:
        cfgs = list(pipeline_cfg)
        if not cfgs or cfgs[0].get('type') not in _LOADERS:
            raise ValueError(
                'The test pipeline must start with LoadImageFromFile; it '
                f'starts with {cfgs[0].get("type") if cfgs else "nothing"}.')
        self.from_file = Compose([TRANSFORMS.build(c) for c in cfgs])
        self.from_array = Compose([TRANSFORMS.build(c) for c in cfgs[1:]])

    def __call__(self, item: ImageInput, index: int) -> dict:
        meta = dict(gt_pid=-1, camid=-1, is_query=False, sample_idx=index)
        if isinstance(item, str):
            results = self.from_file(dict(meta, img_path=item))
            if results is None:
                raise ValueError(f'Image "{item}" could not be read.')
        else:
            img = _check_array(item, index)
            results = self.from_array(
                dict(meta, img=img, img_shape=img.shape[:2],
                     ori_shape=img.shape[:2], img_path=None))
        return results


@torch.no_grad()
def extract_features(model: torch.nn.Module,
                     images: Union[str, ImageInput, Sequence[ImageInput]],
                     batch_size: int = 64,
                     normalize: bool = True,
                     progress: bool = False,
                     return_paths: bool = False
                     ) -> Union[torch.Tensor, Tuple[torch.Tensor, list]]:
    """Embed images with a model from :func:`init_model`.

    Each image goes through the config's test pipeline and the model's data
    preprocessor, then ``model(inputs, mode='tensor')`` (the retrieval
    embedding: the BN-neck feature, flip-averaged when
    ``test_cfg.flip``; the better mean teacher for MMT).

    Args:
        model (nn.Module): From :func:`init_model` (needs ``.pipeline``).
        images: A folder (all images under it, recursively, sorted), an
            image path, an H x W x 3 BGR uint8 array, or a list of paths
            and arrays.
        batch_size (int): Defaults to 64.
        normalize (bool): L2-normalise the rows, so that the dot product
            is the cosine similarity. Defaults to True.
        progress (bool): Show a progress bar. Defaults to False.
        return_paths (bool): Also return the image of every row (its path;
            ``None`` for an array input). A folder's images are in
            :func:`list_images` order. Defaults to False.

    Returns:
        Tensor | tuple: ``N x D`` float32 CPU tensor, rows in input order
        (and the list of paths with ``return_paths``).
    """
    if not hasattr(model, 'pipeline'):
        raise AttributeError(
            'extract_features needs a model from reidkit.apis.init_model '
            '(it carries the config\'s test pipeline as model.pipeline).')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    items = normalise_image_inputs(images)
    if not items:
        raise ValueError('extract_features got no images.')
    pipeline = ImagePipeline(model.pipeline)
    was_training = model.training
    model.eval()
    bar = ProgressBar(len(items)) if progress else None
    chunks = []
    try:
        for start in range(0, len(items), batch_size):
            batch = [pipeline(item, start + i) for i, item in
                     enumerate(items[start:start + batch_size])]
            data = model.data_preprocessor(
                dict(inputs=[b['inputs'] for b in batch],
                     data_samples=[b['data_samples'] for b in batch]),
                training=False)
            feats = model(data['inputs'], data['data_samples'],
                          mode='tensor')
            chunks.append(feats.float().cpu())
            if bar is not None:
                for _ in batch:
                    bar.update()
    finally:
        model.train(was_training)
    feats = torch.cat(chunks)
    if normalize:
        feats = F.normalize(feats, dim=1)
    if return_paths:
        return feats, [item if isinstance(item, str) else None
                       for item in items]
    return feats
