from typing import List, Optional, Sequence

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

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if training:
            for aug in self.batch_augments:
                data['inputs'] = aug(data['inputs'])
        return data
