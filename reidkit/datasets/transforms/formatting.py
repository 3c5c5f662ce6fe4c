"""Pack pipeline outputs into model inputs and data samples."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from reidkit.registry import TRANSFORMS
from reidkit.structures import ReIDDataSample


@TRANSFORMS.register_module()
class PackReIDInputs(BaseTransform):
    """Turn the image into a CHW uint8 tensor and the rest into a data sample.

    Required Keys: ``img``, ``img_path``, ``sample_idx``, ``gt_pid``,
    ``gt_label``, ``camid``, ``is_query``.
    Optional Keys: ``dataset_name``, ``flip``.

    Added Keys: ``inputs`` (Tensor, 3xHxW, the image's channel order — BGR
    after ``mmcv.LoadImageFromFile``; the data preprocessor converts),
    ``data_samples`` (:class:`~reidkit.structures.ReIDDataSample`).

    When ``img`` is a list of images (the views of
    :class:`~reidkit.datasets.transforms.MultiView`), ``inputs`` is the list
    of their CHW uint8 tensors, one per view, in the same order.
    """

    META_KEYS = ('img_path', 'sample_idx', 'camid', 'is_query',
                 'dataset_name', 'flip')

    @staticmethod
    def _to_tensor(img: np.ndarray) -> torch.Tensor:
        """HxW or HxWxC array -> CxHxW tensor (same dtype)."""
        if img.ndim == 2:
            img = img[..., None]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def transform(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, (list, tuple)):
            inputs = [self._to_tensor(view) for view in img]
        else:
            inputs = self._to_tensor(img)
        sample = ReIDDataSample()
        sample.set_metainfo(
            {k: results[k]
             for k in self.META_KEYS if k in results})
        sample.gt_pid = results['gt_pid']
        sample.gt_label = results.get('gt_label', -1)
        return dict(inputs=inputs, data_samples=sample)
