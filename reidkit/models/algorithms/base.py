"""The model contract every reidkit algorithm follows."""
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from reidkit.registry import MODELS
from reidkit.structures import ReIDDataSample
from ..utils import FiniteLossMixin


def check_bn_samples(bn_samples: Optional[int]) -> Optional[int]:
    if bn_samples is not None and (not isinstance(bn_samples, int)
                                   or bn_samples < 2):
        raise ValueError(
            f'bn_samples must be an integer >= 2 (images per BatchNorm '
            f'step) or None, got {bn_samples!r}.')
    return bn_samples


def forward_in_bn_groups(fn: Callable, inputs: torch.Tensor,
                         bn_samples: Optional[int], training: bool):
    """``fn(inputs)``, in training run on groups of ``bn_samples`` images.

    Every BatchNorm layer then normalises each group with the group's own
    statistics, as each GPU of the papers' ``DataParallel`` runs did with
    its share of the batch (e.g. 16 images per GPU in MMT). Running
    statistics are updated once per group. ``fn`` returns a tuple of
    tensors whose first dimension is the batch.
    """
    if not training or bn_samples is None or len(inputs) <= bn_samples:
        return fn(inputs)
    if len(inputs) % bn_samples:
        raise ValueError(
            f'The per-process batch ({len(inputs)}) is not a multiple of '
            f'bn_samples ({bn_samples}); choose bn_samples dividing it.')
    outs = [fn(chunk) for chunk in inputs.split(bn_samples)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def build_pair_losses(cfgs: Optional[Dict[str, dict]]) -> nn.ModuleDict:
    """Build ``name -> loss`` configs into a ModuleDict (see
    ``BaseReIDModel``'s ``pair_losses``)."""
    if cfgs is None:
        return nn.ModuleDict()
    if not isinstance(cfgs, dict) or 'type' in cfgs:
        raise TypeError(
            'pair_losses must map names to loss configs, e.g. '
            "dict(gds=dict(type='GDSLoss')), got " + repr(cfgs))
    return nn.ModuleDict(
        {name: MODELS.build(cfg)
         for name, cfg in cfgs.items()})


class BaseReIDModel(FiniteLossMixin, BaseModel):
    """Backbone + neck with mmengine's ``forward(mode)`` contract.

    - ``mode='tensor'``: the retrieval embedding of ``inputs`` (B x D, not
      normalised), used for feature extraction (e.g. pseudo labelling).
    - ``mode='predict'``: the same embedding stored as ``pred_feature`` in
      each data sample (flip test-time augmentation when
      ``test_cfg['flip']``), for :class:`~reidkit.evaluation.ReIDMetric`.
    - ``mode='loss'``: a dict of ``loss_*`` tensors (plus logged values)
      from :meth:`loss`, which each algorithm implements.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='ResNet')``.
        neck (dict): Neck config; ``in_channels`` defaults to the
            backbone's ``out_channels``.
        data_preprocessor (dict, optional): Defaults to
            ``ReIDDataPreprocessor`` with ImageNet statistics.
        test_cfg (dict, optional): ``flip`` (bool, average the embeddings of
            the image and its mirror; off by default and named in every
            result line when on) and ``feature`` ('bn' = BN-neck output, the
            papers' choice, or 'pooled'). Defaults to None.
        init_cfg (dict, optional): Defaults to None.
        pair_losses (dict, optional): Extra losses on the batch's pair
            distances, ``name -> MODELS config`` (e.g. ``dict(gds=dict(
            type='GDSLoss', lambda_h=1.0))``), each called as
            ``loss(feat, labels)`` on the BN-neck features with the
            batch's (pseudo) labels and returned as ``loss_<name>``. This
            is how GDS / GDS-H plugs into any algorithm from a config.
            Defaults to None.
        bn_samples (int, optional): In training, run the network on
            groups of this many images so that each BatchNorm step sees
            ``bn_samples`` images, whatever the per-process batch (keeps a
            paper's per-GPU BN batch on fewer GPUs; docs/distributed.md).
            Defaults to None: the whole per-process batch.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 pair_losses: Optional[Dict[str, dict]] = None,
                 bn_samples: Optional[int] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReIDDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Build from reidkit's registry, so no default scope is needed.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        neck = dict(neck)
        neck.setdefault('in_channels', self.backbone.out_channels)
        self.neck = MODELS.build(neck)
        self.test_cfg = dict(flip=False, feature='bn')
        self.test_cfg.update(test_cfg or {})
        if self.test_cfg['feature'] not in ('bn', 'pooled'):
            raise ValueError("test_cfg['feature'] must be 'bn' or 'pooled', "
                             f"got {self.test_cfg['feature']!r}.")
        unknown = set(self.test_cfg) - {'flip', 'feature'}
        if unknown:
            raise ValueError(f'Unknown test_cfg keys {sorted(unknown)}; '
                             "valid keys are 'flip' and 'feature'.")
        self.pair_losses = build_pair_losses(pair_losses)
        self.bn_samples = check_bn_samples(bn_samples)

    def add_pair_losses(self, losses: Dict[str, torch.Tensor],
                        feat: torch.Tensor,
                        labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Add ``loss_<name>`` of every configured pair loss."""
        for name, module in self.pair_losses.items():
            losses[f'loss_{name}'] = module(feat, labels)
        return losses

    @property
    def feat_dim(self) -> int:
        return self.neck.in_channels

    def extract_feat(self,
                     inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(pooled, feat)``: pre-BN and BN-neck features."""
        return forward_in_bn_groups(lambda x: self.neck(self.backbone(x)),
                                    inputs, self.bn_samples, self.training)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """The retrieval embedding (honours ``test_cfg``)."""
        idx = 1 if self.test_cfg['feature'] == 'bn' else 0
        feats = self.extract_feat(inputs)[idx]
        if self.test_cfg['flip']:
            flipped = self.extract_feat(inputs.flip(3))[idx]
            feats = (feats + flipped) / 2
        return feats

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[ReIDDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, torch.Tensor], List[ReIDDataSample],
                           torch.Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.embed(inputs)
        raise RuntimeError(f'Invalid mode "{mode}"; reidkit models support '
                           "'loss', 'predict' and 'tensor'.")

    def predict(self, inputs: torch.Tensor,
                data_samples: List[ReIDDataSample]) -> List[ReIDDataSample]:
        feats = self.embed(inputs)
        for sample, feat in zip(data_samples, feats):
            sample.pred_feature = feat
            sample.set_metainfo(dict(flip_test=self.test_cfg['flip']))
        return data_samples

    def loss(self, inputs: torch.Tensor,
             data_samples: List[ReIDDataSample]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError(
            f'{type(self).__name__} is an inference-only model; use a '
            'training algorithm such as SupervisedReID.')

    @staticmethod
    def stack_field(data_samples: List[ReIDDataSample], key: str,
                    device: torch.device) -> torch.Tensor:
        """Collect an int field of the samples into a tensor on ``device``."""
        return torch.tensor([s.get(key) for s in data_samples],
                            dtype=torch.long, device=device)
