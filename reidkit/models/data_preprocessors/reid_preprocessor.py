from typing import List, Optional, Sequence

import torch
from mmengine.model import ImgDataPreprocessor

from reidkit.registry import BATCH_AUGMENTS, MODELS


@MODELS.register_module()
class ReIDDataPreprocessor(ImgDataPreprocessor):
    """Stack, move to the device, BGR->RGB, normalise, batch-augment.

    Args:
        mean (Sequence[float]): Per-channel mean (0-255 scale, RGB).
            Defaults to ImageNet's (123.675, 116.28, 103.53).
        std (Sequence[float]): Defaults to (58.395, 57.12, 57.375).
        bgr_to_rgb (bool): Defaults to True (images are loaded as BGR).
        batch_augments (list[dict], optional): Configs of
            ``BATCH_AUGMENTS`` (e.g. ``RandomErasing``) applied in training
            only, after normalisation. Defaults to None.

    Multi-view batches (:class:`~reidkit.datasets.transforms.MultiView`
    packed by :class:`~reidkit.datasets.transforms.PackReIDInputs` and
    collated by ``pseudo_collate``) have ``inputs`` = a list over views of
    lists over samples. Each view is then processed on its own, exactly
    like a single-view batch (stack, BGR->RGB, normalise, move to the
    device and, in training, the batch augments with independent
    randomness per view), and ``inputs`` comes back as a list of
    ``B x C x H x W`` tensors, one per view. A list of ``B x C x H x W``
    tensors (one per view, as ``default_collate`` gives) is accepted too.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 bgr_to_rgb: bool = True,
                 batch_augments: Optional[List[dict]] = None,
                 **kwargs) -> None:
        super().__init__(
            mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, **kwargs)
        self.batch_augments = [
            BATCH_AUGMENTS.build(cfg) for cfg in (batch_augments or [])
        ]

    @staticmethod
    def is_multi_view(inputs) -> bool:
        """Whether ``inputs`` holds several views: a list whose items are
        lists/tuples of CHW tensors or NCHW tensors."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) == 0:
            return False
        first = inputs[0]
        return isinstance(first, (list, tuple)) or (
            isinstance(first, torch.Tensor) and first.dim() == 4)

    def _forward_one(self, data: dict, training: bool) -> dict:
        data = super().forward(data, training)
        if training:
            for aug in self.batch_augments:
                data['inputs'] = aug(data['inputs'])
        return data

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a single- or multi-view batch (see the class doc).

        Args:
            data (dict): The collated batch: ``inputs`` and
                ``data_samples``.
            training (bool): Apply the batch augments. Defaults to False.

        Returns:
            dict: ``inputs`` (a ``B x C x H x W`` tensor, or a list of them
            for a multi-view batch) and ``data_samples``.
        """
        views = data['inputs']
        if not self.is_multi_view(views):
            return self._forward_one(data, training)
        out = self.cast_data({k: v for k, v in data.items() if k != 'inputs'})
        out['inputs'] = [
            self._forward_one(dict(inputs=view), training)['inputs']
            for view in views
        ]
        out.setdefault('data_samples', None)
        return out
