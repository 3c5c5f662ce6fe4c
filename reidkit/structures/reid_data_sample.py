"""Per-image data element passed between pipeline, model and metric."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement


class ReIDDataSample(BaseDataElement):
    """One re-ID image: ground truth, metadata and predictions.

    Metainfo (set once by :class:`~reidkit.datasets.transforms.PackReIDInputs`):
        - ``img_path`` (str), ``sample_idx`` (int, stable index of the image
          in its dataset), ``camid`` (int, 0-based; -1 = unknown),
          ``is_query`` (bool), ``dataset_name`` (str).

    Data fields:
        - ``gt_pid`` (int): the original identity (-1 = unlabelled).
        - ``gt_label`` (int): the training label (identities of the train
          split relabelled to 0..P-1; -1 = none). Unsupervised methods ignore
          it and look pseudo labels up by ``sample_idx``.
        - ``pred_feature`` (Tensor): the embedding produced by
          ``forward(mode='predict')``.
    """

    @property
    def gt_pid(self) -> int:
        return self._gt_pid

    @gt_pid.setter
    def gt_pid(self, value: int) -> None:
        self.set_field(int(value), '_gt_pid', dtype=int)

    @property
    def gt_label(self) -> int:
        return self._gt_label

    @gt_label.setter
    def gt_label(self, value: int) -> None:
        self.set_field(int(value), '_gt_label', dtype=int)

    @property
    def pred_feature(self) -> Optional[torch.Tensor]:
        return self._pred_feature

    @pred_feature.setter
    def pred_feature(self, value: torch.Tensor) -> None:
        self.set_field(value, '_pred_feature', dtype=torch.Tensor)
