"""Export a re-ID model to ONNX and check it against PyTorch.

The exported graph (the "contract", also stored in the ONNX file's
``metadata_props`` under ``reidkit.*`` keys):

- **input** ``images``: ``float32``, ``N x 3 x H x W``, ``N`` dynamic (the
  ``batch`` axis), ``H x W`` fixed at export (the config's test-pipeline
  ``Resize``, or an override). Pixel values are what the test pipeline
  gives: **BGR** channel order (as ``cv2.imread`` / ``LoadImageFromFile``
  load images) and the **0..255** range, after resizing to ``H x W``; i.e.
  ``img.transpose(2, 0, 1).astype(np.float32)`` of the resized image.
  The data preprocessor's work (BGR->RGB, mean/std normalisation, padding)
  is *inside* the graph.
- **output** ``features``: ``float32``, ``N x D``: the model's
  ``mode='tensor'`` embedding (the BN-neck feature, flip-averaged when
  ``test_cfg.flip`` is set; for MMT the selected teacher's feature, which is
  already L2-normalised), **L2-normalised** in the graph unless exported
  with ``normalize=False``. The normalised output equals
  :func:`~reidkit.apis.extract_features` (``normalize=True``, its default).

Example:
    >>> from reidkit.apis import init_model
    >>> from reidkit.apis.export import export_onnx, check_onnx_parity
    >>> model = init_model('configs/cluster_contrast/cc_r18_synthetic.py',
    ...                    'work_dirs/cc/epoch_12.pth')
    >>> info = export_onnx(model, 'cc_r18.onnx')
    >>> report = check_onnx_parity(model, 'cc_r18.onnx', 'data/query')
"""
import copy
import os
import os.path as osp
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ImgDataPreprocessor

from .inference import (ImagePipeline, extract_features,
                        normalise_image_inputs)

#: Default ONNX opset. torch's (dynamo) exporter implements opset 18 and
#: later; onnxruntime >= 1.14 runs opset 18.
DEFAULT_OPSET = 18
#: Oldest opset :func:`export_onnx` accepts (see DEFAULT_OPSET).
MIN_OPSET = 18
INPUT_NAME = 'images'
OUTPUT_NAME = 'features'
BATCH_AXIS = 'batch'
_RESIZES = ('Resize', 'mmcv.Resize')
_DEPLOY_HINT = ('Install the deploy extras: pip install -e ".[deploy]" '
                '(onnx, onnxruntime, onnxscript).')


class OnnxParityError(RuntimeError):
    """ONNX Runtime and PyTorch disagree; ``report`` has the numbers."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


def _import_onnx(exporting: bool = False):
    try:
        import onnx
        if exporting:  # torch's dynamo exporter needs onnxscript
            import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError(f'ONNX export needs onnx and onnxscript ({e}). '
                          f'{_DEPLOY_HINT}') from e
    return onnx


def _import_ort():
    try:
        import onnxruntime
    except ImportError as e:
        raise ImportError('The ONNX parity check needs onnxruntime. '
                          f'{_DEPLOY_HINT}') from e
    return onnxruntime


# ----------------------------------------------------------------------
# The input size
# ----------------------------------------------------------------------
def pipeline_input_shape(pipeline: Sequence[dict]) -> Tuple[int, int]:
    """``(H, W)`` that a test pipeline resizes every image to.

    Reads the last ``Resize`` (``scale=(w, h)``, ``keep_ratio=False``).

    Args:
        pipeline (Sequence[dict]): Transform configs, e.g.
            ``model.pipeline`` of a model from ``init_model``.

    Returns:
        tuple[int, int]: ``(H, W)``.
    """
    resizes = [t for t in pipeline if t.get('type') in _RESIZES]
    if not resizes:
        raise ValueError(
            'The test pipeline has no Resize, so the input size of the '
            'ONNX graph is unknown; pass shape=(H, W) (--shape H W).')
    resize = resizes[-1]
    scale = resize.get('scale')
    if resize.get('keep_ratio', False) or scale is None:
        raise ValueError(
            f'The test pipeline\'s Resize ({resize}) does not give a fixed '
            'size (it needs scale=(w, h) and keep_ratio=False); pass '
            'shape=(H, W) (--shape H W).')
    if isinstance(scale, int):
        return scale, scale
    w, h = scale
    return int(h), int(w)


def pipeline_with_shape(pipeline: Sequence[dict],
                        shape: Tuple[int, int]) -> List[dict]:
    """A copy of a test pipeline whose (last) Resize gives ``(H, W)``.

    Args:
        pipeline (Sequence[dict]): Transform configs.
        shape (tuple[int, int]): ``(H, W)``.

    Returns:
        list[dict]: The new pipeline (the input is not modified).
    """
    pipeline = copy.deepcopy(list(pipeline))
    idx = [i for i, t in enumerate(pipeline) if t.get('type') in _RESIZES]
    if not idx:
        raise ValueError(
            f'Cannot resize to {shape[0]}x{shape[1]}: the test pipeline has '
            'no Resize transform to change.')
    h, w = shape
    pipeline[idx[-1]].update(scale=(w, h), keep_ratio=False)
    pipeline[idx[-1]].pop('scale_factor', None)
    return pipeline


def _check_shape(shape) -> Tuple[int, int]:
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(v, int) and v > 0 for v in shape)):
        raise ValueError(f'shape must be (H, W), two positive integers, '
                         f'got {shape!r}.')
    return int(shape[0]), int(shape[1])


# ----------------------------------------------------------------------
# The exported module
# ----------------------------------------------------------------------
def _is_mmt(model: nn.Module) -> bool:
    return hasattr(model, 'teachers') and hasattr(model, 'best_teacher')


class _ModelEmbedder(nn.Module):
    """``model(x, mode='tensor')`` (BaseReIDModel: ``embed``, with flip)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, mode='tensor')


class _TeacherEmbedder(nn.Module):
    """MMT's ``mode='tensor'`` with the best teacher fixed at export time:
    the L2-normalised BN-neck feature of that teacher (``int(buffer)``
    cannot be traced, and the other teacher is not needed)."""

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.teacher(inputs)[1], dim=1)


class ExportWrapper(nn.Module):
    """Preprocessing + embedding, the module that is exported.

    ``forward(images)`` with ``images`` an ``N x 3 x H x W`` float BGR
    0..255 batch does what :func:`~reidkit.apis.extract_features` does
    after the test pipeline: the data preprocessor's channel conversion,
    mean/std normalisation and padding, then ``model(x, mode='tensor')``
    and (``normalize``) L2 normalisation.

    Args:
        model (nn.Module): A reidkit model (``BaseReIDModel`` or ``MMT``)
            whose ``data_preprocessor`` is an ``ImgDataPreprocessor``.
        shape (tuple[int, int]): ``(H, W)`` of the input (for padding).
        normalize (bool): L2-normalise the output rows. Defaults to True.
    """

    def __init__(self, model: nn.Module, shape: Tuple[int, int],
                 normalize: bool = True) -> None:
        super().__init__()
        pre = model.data_preprocessor
        if not isinstance(pre, ImgDataPreprocessor):
            raise TypeError(
                f'ONNX export supports ImgDataPreprocessor-based data '
                f'preprocessors (e.g. ReIDDataPreprocessor); this model has '
                f'{type(pre).__name__}.')
        self.swap_channels = bool(pre._channel_conversion)
        self.has_norm = bool(pre._enable_normalize)
        if self.has_norm:
            self.register_buffer(
                'mean', pre.mean.detach().clone().float().view(1, -1, 1, 1),
                persistent=False)
            self.register_buffer(
                'std', pre.std.detach().clone().float().view(1, -1, 1, 1),
                persistent=False)
        h, w = shape
        div = int(pre.pad_size_divisor)
        self.pad = (0, -w % div, 0, -h % div)
        self.pad_value = float(pre.pad_value)
        if _is_mmt(model):
            best = int(model.best_teacher)
            self.embedder = _TeacherEmbedder(model.teachers[best])
        else:
            self.embedder = _ModelEmbedder(model)
        self.normalize = normalize

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        if self.swap_channels:
            x = x[:, [2, 1, 0], ...]
        if self.has_norm:
            x = (x - self.mean) / self.std
        if any(self.pad):
            x = F.pad(x, self.pad, 'constant', self.pad_value)
        feats = self.embedder(x)
        if self.normalize:
            feats = F.normalize(feats, dim=1)
        return feats


def describe_export(model: nn.Module, shape: Tuple[int, int],
                    normalize: bool) -> Dict[str, str]:
    """The graph contract as ``reidkit.*`` metadata strings."""
    flip = bool(getattr(model, 'test_cfg', None) and
                model.test_cfg.get('flip', False))
    meta = {
        'reidkit.input': (f'{INPUT_NAME}: float32 {BATCH_AXIS} x 3 x '
                          f'{shape[0]} x {shape[1]}, BGR, 0..255 (the '
                          'resized image; normalisation is in the graph)'),
        'reidkit.output': (f'{OUTPUT_NAME}: float32 {BATCH_AXIS} x D, '
                           + ('L2-normalised' if normalize else
                              "model(mode='tensor'), not normalised")),
        'reidkit.input_shape': f'{shape[0]},{shape[1]}',
        'reidkit.normalize': str(bool(normalize)).lower(),
        'reidkit.flip': str(flip).lower(),
        'reidkit.model': type(model).__name__,
    }
    if _is_mmt(model):
        meta['reidkit.mmt_teacher'] = str(int(model.best_teacher) + 1)
    cfg = getattr(model, 'cfg', None)
    if cfg is not None and getattr(cfg, 'filename', None):
        meta['reidkit.config'] = osp.basename(cfg.filename)
    return meta


# ----------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------
def export_onnx(model: nn.Module,
                out_file: str,
                opset: int = DEFAULT_OPSET,
                shape: Optional[Tuple[int, int]] = None,
                normalize: bool = True,
                overwrite: bool = False) -> dict:
    """Export a model from :func:`~reidkit.apis.init_model` to ONNX.

    Uses ``torch.onnx.export(..., dynamo=True)`` (torch.export; the
    TorchScript exporter is deprecated) with a dynamic batch axis named
    ``batch``, then ``onnx.checker.check_model``. The file is written to a
    temporary name next to ``out_file`` and renamed when complete. The
    graph contract is in this module's docstring.

    Args:
        model (nn.Module): From ``init_model`` (eval mode; ``.pipeline``
            gives the input size unless ``shape`` is given).
        out_file (str): The ``.onnx`` file to write (weights inside; models
            over 2 GB are not supported).
        opset (int): ONNX opset, >= 18. Defaults to 18.
        shape (tuple[int, int], optional): Input ``(H, W)``. Defaults to
            the test pipeline's Resize.
        normalize (bool): L2-normalise the output in the graph. Defaults to
            True.
        overwrite (bool): Replace an existing ``out_file``. Defaults to
            False (an existing file is an error).

    Returns:
        dict: ``file``, ``opset``, ``input_shape`` (``['batch', 3, H,
        W]``), ``feat_dim``, ``normalize``, ``flip``, ``export_time`` (s),
        ``file_size`` (bytes) and ``metadata`` (the contract strings).
    """
    onnx = _import_onnx(exporting=True)
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(
            f'opset must be an integer >= {MIN_OPSET}, got {opset!r}: '
            "torch's ONNX exporter implements opset 18 and later (older "
            'opsets need the deprecated TorchScript exporter, and its '
            'down-conversion fails for these models).')
    out_file = os.fspath(out_file)
    if osp.exists(out_file) and not overwrite:
        raise FileExistsError(
            f'"{out_file}" already exists; pass overwrite=True '
            '(--overwrite) to replace it, or choose another path.')
    out_dir = osp.dirname(osp.abspath(out_file))
    if not osp.isdir(out_dir):
        os.makedirs(out_dir, exist_ok=True)
    if shape is None:
        if not hasattr(model, 'pipeline'):
            raise ValueError(
                'The model has no .pipeline (use reidkit.apis.init_model), '
                'so the input size is unknown; pass shape=(H, W).')
        shape = pipeline_input_shape(model.pipeline)
    shape = _check_shape(shape)

    was_training = model.training
    model.eval()
    wrapper = ExportWrapper(model, shape, normalize).eval()
    device = next(model.parameters()).device
    # Batch 2, not 1: torch.export specialises size-1 dimensions.
    example = torch.rand(2, 3, *shape, device=device) * 255
    batch = torch.export.Dim(BATCH_AXIS, min=1)
    fd, tmp_file = tempfile.mkstemp(
        suffix='.onnx', prefix='.tmp_', dir=out_dir)
    os.close(fd)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            feat_dim = int(wrapper(example).shape[1])
            program = torch.onnx.export(
                wrapper, (example, ),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamic_shapes={'images': {
                    0: batch
                }},
                external_data=False,
                verbose=False)
        program.save(tmp_file, external_data=False)
        proto = onnx.load(tmp_file)
        got = {o.domain: o.version for o in proto.opset_import}.get('')
        if got != opset:
            raise RuntimeError(
                f'torch exported opset {got}, not the requested {opset}; '
                f'use opset {got} (or the default {DEFAULT_OPSET}).')
        meta = describe_export(model, shape, normalize)
        del proto.metadata_props[:]
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        proto.doc_string = (
            f'reidkit re-ID embedding. Input {meta["reidkit.input"]}. '
            f'Output {meta["reidkit.output"]}.')
        onnx.save(proto, tmp_file)
        onnx.checker.check_model(tmp_file, full_check=True)
        _check_dynamic_batch(proto)
        os.replace(tmp_file, out_file)
    finally:
        model.train(was_training)
        if osp.exists(tmp_file):
            os.remove(tmp_file)
    return dict(
        file=out_file,
        opset=opset,
        input_shape=[BATCH_AXIS, 3, shape[0], shape[1]],
        feat_dim=feat_dim,
        normalize=bool(normalize),
        flip=meta['reidkit.flip'] == 'true',
        export_time=time.perf_counter() - start,
        file_size=osp.getsize(out_file),
        metadata=meta)


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def _check_dynamic_batch(proto) -> None:
    (inp, ), (out, ) = proto.graph.input, proto.graph.output
    if (inp.name, out.name) != (INPUT_NAME, OUTPUT_NAME):
        raise RuntimeError(
            f'Exported graph has input {inp.name!r} / output {out.name!r}, '
            f'expected {INPUT_NAME!r} / {OUTPUT_NAME!r}.')
    for vi in (inp, out):
        if _dims(vi)[0] != BATCH_AXIS:
            raise RuntimeError(
                f'The batch axis of {vi.name!r} is {_dims(vi)[0]!r}, not '
                'dynamic: torch.export specialised it (does the model '
                'branch on the batch size?).')


def onnx_contract(onnx_file: str) -> dict:
    """Read the input/output shapes and ``reidkit.*`` metadata of a file.

    Args:
        onnx_file (str): An ONNX file from :func:`export_onnx`.

    Returns:
        dict: ``input`` and ``output`` (names -> dims, a string for a
        dynamic axis), ``opset`` and ``metadata``.
    """
    onnx = _import_onnx()
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file "{onnx_file}" does not exist.')
    proto = onnx.load(onnx_file, load_external_data=False)
    return dict(
        input={vi.name: _dims(vi) for vi in proto.graph.input},
        output={vi.name: _dims(vi) for vi in proto.graph.output},
        opset={o.domain: o.version for o in proto.opset_import}.get(''),
        metadata={p.key: p.value for p in proto.metadata_props})


# ----------------------------------------------------------------------
# Parity
# ----------------------------------------------------------------------
def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def check_onnx_parity(model: nn.Module,
                      onnx_file: str,
                      images,
                      batch_sizes: Sequence[int] = (1, 7),
                      min_cosine: float = 0.9999,
                      normalize: Optional[bool] = None,
                      raise_on_fail: bool = True) -> dict:
    """Compare ONNX Runtime (CPU) with PyTorch on real images.

    The images go through the model's test pipeline (resized to the ONNX
    input size when it differs from the config's); PyTorch embeds them
    with :func:`~reidkit.apis.extract_features`, ONNX Runtime
    (``CPUExecutionProvider``) runs the same resized images in batches of
    each of ``batch_sizes`` (the last batch may be smaller, which also
    exercises the dynamic batch axis).

    Args:
        model (nn.Module): The model that was exported (from
            ``init_model``).
        onnx_file (str): The exported file.
        images: A folder, an image path or a list of paths (or BGR uint8
            arrays), as for ``extract_features``.
        batch_sizes (Sequence[int]): ONNX Runtime batch sizes. Defaults to
            (1, 7).
        min_cosine (float): Fail when any image's cosine similarity
            (ONNX vs PyTorch) is below this. Defaults to 0.9999.
        normalize (bool, optional): Whether the graph L2-normalises.
            Defaults to None: read ``reidkit.normalize`` from the file.
        raise_on_fail (bool): Raise :class:`OnnxParityError` on failure.
            Defaults to True.

    Returns:
        dict: ``num_images``, ``feat_dim``, ``input_shape``,
        ``per_batch_size`` (batch size -> ``min_cosine``, ``mean_cosine``,
        ``max_abs_diff``), the overall ``min_cosine``, ``mean_cosine``,
        ``max_abs_diff``, ``threshold`` and ``passed``.
    """
    ort = _import_ort()
    contract = onnx_contract(onnx_file)
    if normalize is None:
        flag = contract['metadata'].get('reidkit.normalize')
        if flag is None:
            raise ValueError(
                f'"{onnx_file}" has no reidkit.normalize metadata (not '
                'written by export_onnx?); pass normalize=True/False.')
        normalize = flag == 'true'
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f'batch_sizes must be positive integers, got '
                         f'{batch_sizes!r}.')
    items = normalise_image_inputs(images)
    if not items:
        raise ValueError('check_onnx_parity got no images.')
    in_dims = contract['input'].get(INPUT_NAME)
    if in_dims is None or len(in_dims) != 4:
        raise ValueError(f'"{onnx_file}" has no 4-d {INPUT_NAME!r} input '
                         f'(inputs: {contract["input"]}).')
    shape = (int(in_dims[2]), int(in_dims[3]))
    pipeline_cfg = model.pipeline
    try:
        config_shape = pipeline_input_shape(pipeline_cfg)
    except ValueError:
        config_shape = None
    if config_shape != shape:
        pipeline_cfg = pipeline_with_shape(pipeline_cfg, shape)

    # The same resized images for both runtimes.
    pipeline = ImagePipeline(pipeline_cfg)
    arrays = []
    for i, item in enumerate(items):
        img = pipeline(item, i)['inputs']
        if tuple(img.shape[-2:]) != shape:
            raise ValueError(
                f'The test pipeline gives {tuple(img.shape[-2:])} images, '
                f'the ONNX graph takes {shape}; the pipeline must resize to '
                'the exported shape.')
        arrays.append(img.numpy())
    batch = np.stack(arrays).astype(np.float32)

    saved = model.pipeline
    model.pipeline = pipeline_cfg
    try:
        ref = extract_features(
            model, items, batch_size=64, normalize=normalize).numpy()
    finally:
        model.pipeline = saved

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(
            onnx_file, opts, providers=['CPUExecutionProvider'])
    except Exception as e:  # onnxruntime raises its own exception types
        raise RuntimeError(
            f'onnxruntime {ort.__version__} cannot load "{onnx_file}" '
            f'(opset {contract["opset"]}): {e}. Try the default opset '
            f'{DEFAULT_OPSET}.') from e
    per_bs = {}
    all_cos, max_diff = [], 0.0
    for bs in batch_sizes:
        bs = int(bs)
        outs = [
            sess.run([OUTPUT_NAME], {INPUT_NAME: batch[s:s + bs]})[0]
            for s in range(0, len(batch), bs)
        ]
        out = np.concatenate(outs)
        if out.shape != ref.shape:
            raise RuntimeError(
                f'ONNX output is {out.shape} at batch size {bs}, PyTorch '
                f'gives {ref.shape}.')
        cos = _cosine(out, ref)
        diff = float(np.abs(out - ref).max())
        per_bs[bs] = dict(
            min_cosine=float(cos.min()),
            mean_cosine=float(cos.mean()),
            max_abs_diff=diff)
        all_cos.append(cos)
        max_diff = max(max_diff, diff)
    cos = np.concatenate(all_cos)
    report = dict(
        num_images=len(items),
        feat_dim=int(ref.shape[1]),
        input_shape=[BATCH_AXIS, 3, shape[0], shape[1]],
        normalize=bool(normalize),
        per_batch_size=per_bs,
        min_cosine=float(cos.min()),
        mean_cosine=float(cos.mean()),
        max_abs_diff=max_diff,
        threshold=float(min_cosine),
        passed=bool(cos.min() >= min_cosine))
    if raise_on_fail and not report['passed']:
        raise OnnxParityError(
            f'ONNX parity check failed: min cosine similarity '
            f'{report["min_cosine"]:.6f} < {min_cosine} over '
            f'{len(items)} images (max abs diff {max_diff:.3g}). The ONNX '
            'graph does not reproduce the PyTorch embedding.', report)
    return report


def format_parity(report: dict) -> str:
    """A few lines summarising a :func:`check_onnx_parity` report."""
    lines = [
        f'ONNX Runtime vs PyTorch on {report["num_images"]} images '
        f'(input {"x".join(str(d) for d in report["input_shape"])}, '
        f'output D={report["feat_dim"]}, '
        f'{"L2-normalised" if report["normalize"] else "raw"}):'
    ]
    for bs, r in report['per_batch_size'].items():
        lines.append(f'  batch {bs:>3}: cosine min {r["min_cosine"]:.8f} '
                     f'(1 - cos {1 - r["min_cosine"]:.1e}), mean '
                     f'{r["mean_cosine"]:.8f}, max abs diff '
                     f'{r["max_abs_diff"]:.2e}')
    verdict = 'PASS' if report['passed'] else 'FAIL'
    lines.append(f'{verdict}: min cosine {report["min_cosine"]:.8f} '
                 f'{">=" if report["passed"] else "<"} '
                 f'{report["threshold"]}')
    return '\n'.join(lines)
