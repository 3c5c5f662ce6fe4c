"""ONNX export (reidkit.apis.export, tools/deploy/export_onnx.py)."""
import copy
import importlib.util
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch

from reidkit.apis.export import (OnnxParityError, check_onnx_parity,
                                 export_onnx, onnx_contract)
from reidkit.apis.inference import extract_features, init_model, list_images

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CC_CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast',
                     'cc_r18_synthetic.py')
MMT_CONFIG = osp.join(ROOT, 'configs', 'mmt', 'mmt_r18_synthetic_a2b.py')
TOOL = osp.join(ROOT, 'tools', 'deploy', 'export_onnx.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('export_onnx_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def query_paths(root, num=None):
    paths = list_images(osp.join(root, 'query'))
    return paths if num is None else paths[:num]


@pytest.fixture(scope='module')
def cc_export(tmp_path_factory):
    """A randomly initialised cc_r18_synthetic model (64x32), exported."""
    torch.manual_seed(0)
    model = init_model(CC_CONFIG)
    out = tmp_path_factory.mktemp('onnx') / 'cc_r18.onnx'
    info = export_onnx(model, str(out))
    return model, str(out), info


def test_export_contract(cc_export):
    model, path, info = cc_export
    assert info['input_shape'] == ['batch', 3, 64, 32]
    assert info['feat_dim'] == 512 and info['opset'] == 18
    assert info['normalize'] and not info['flip']
    assert info['file_size'] == osp.getsize(path) > 1e6
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    (inp, ), (out, ) = proto.graph.input, proto.graph.output
    assert inp.name == 'images' and out.name == 'features'
    in_dims = inp.type.tensor_type.shape.dim
    assert in_dims[0].dim_param == 'batch'  # the dynamic batch axis
    assert [d.dim_value for d in in_dims[1:]] == [3, 64, 32]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.type.tensor_type.shape.dim[0].dim_param == 'batch'
    contract = onnx_contract(path)
    assert contract['output'] == {'features': ['batch', 512]}
    assert contract['metadata']['reidkit.normalize'] == 'true'
    assert contract['metadata']['reidkit.input_shape'] == '64,32'
    assert 'BGR, 0..255' in contract['metadata']['reidkit.input']


def test_parity_batch_1_and_7(cc_export, synthetic_tiny_root):
    model, path, _ = cc_export
    images = query_paths(synthetic_tiny_root, 15)
    report = check_onnx_parity(model, path, images, batch_sizes=(1, 7))
    assert report['passed'] and report['num_images'] == 15
    assert set(report['per_batch_size']) == {1, 7}
    for res in report['per_batch_size'].values():
        assert res['min_cosine'] >= 0.9999
        assert res['max_abs_diff'] < 1e-4


def test_contract_by_hand(cc_export, synthetic_tiny_root):
    """A deployer's own preprocessing (imread, bicubic resize, CHW float)
    fed to onnxruntime gives extract_features' embeddings."""
    model, path, _ = cc_export
    images = query_paths(synthetic_tiny_root, 5)
    batch = np.stack([
        mmcv.imresize(
            mmcv.imread(p), (32, 64), interpolation='bicubic',
            backend='pillow').transpose(2, 0, 1) for p in images
    ]).astype(np.float32)
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run(['features'], {'images': batch})[0]
    ref = extract_features(model, images).numpy()
    assert got.shape == (5, 512)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert (got * ref).sum(1).min() >= 0.9999


def test_parity_detects_a_different_model(cc_export, synthetic_tiny_root):
    model, path, _ = cc_export
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.backbone.layer4.parameters():
            p.mul_(-1.5)
    with pytest.raises(OnnxParityError, match='min cosine') as err:
        check_onnx_parity(other, path, query_paths(synthetic_tiny_root, 4))
    assert not err.value.report['passed']
    report = check_onnx_parity(
        other, path, query_paths(synthetic_tiny_root, 4),
        raise_on_fail=False)
    assert report['min_cosine'] < 0.9999


def test_shape_override_raw_output_and_overwrite(cc_export, tmp_path,
                                                 synthetic_tiny_root):
    model, _, _ = cc_export
    out = tmp_path / 'small.onnx'
    out.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='overwrite'):
        export_onnx(model, str(out))
    assert out.read_bytes() == b'keep me'
    info = export_onnx(
        model, str(out), shape=(32, 16), normalize=False, overwrite=True)
    assert info['input_shape'] == ['batch', 3, 32, 16]
    assert not info['normalize']
    assert not list(tmp_path.glob('.tmp_*'))  # no temporary file left
    report = check_onnx_parity(model, str(out),
                               query_paths(synthetic_tiny_root, 8))
    assert report['passed'] and not report['normalize']
    sess = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    raw = sess.run(None, {'images': np.full((3, 3, 32, 16), 128,
                                            np.float32)})[0]
    assert raw.shape == (3, 512)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1, atol=1e-3)


def test_bad_arguments(cc_export, tmp_path):
    model, _, _ = cc_export
    with pytest.raises(ValueError, match='opset'):
        export_onnx(model, str(tmp_path / 'a.onnx'), opset=13)
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        export_onnx(model, str(tmp_path / 'a.onnx'), shape=(64, ))
    assert not list(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match='does not exist'):
        init_model(CC_CONFIG, str(tmp_path / 'missing.pth'))


def test_cli_missing_checkpoint_and_existing_out(tmp_path, monkeypatch):
    tool = load_tool()
    with pytest.raises(SystemExit, match='missing.pth" does not exist'):
        tool.main([CC_CONFIG, str(tmp_path / 'missing.pth'), '--out',
                   str(tmp_path / 'm.onnx')])
    ckpt = tmp_path / 'c.pth'
    ckpt.write_bytes(b'')
    (tmp_path / 'm.onnx').write_bytes(b'')
    monkeypatch.setattr('sys.argv', [
        'export_onnx.py', CC_CONFIG, str(ckpt), '--out',
        str(tmp_path / 'm.onnx')
    ])
    with pytest.raises(SystemExit, match='--overwrite'):
        tool.main()


def test_cli_parity_failure_exits_1(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    ckpt = tmp_path / 'c.pth'
    torch.save({'state_dict': {}}, str(ckpt))
    report = dict(
        num_images=2, feat_dim=4, input_shape=['batch', 3, 8, 4],
        normalize=True,
        per_batch_size={1: dict(min_cosine=0.5, mean_cosine=0.7,
                                max_abs_diff=0.3)},
        min_cosine=0.5, mean_cosine=0.7, max_abs_diff=0.3,
        threshold=0.9999, passed=False)

    def fail(*args, **kwargs):
        raise OnnxParityError('ONNX parity check failed', report)

    monkeypatch.setattr(tool, 'init_model',
                        lambda *a, **k: SimpleNamespace(cfg=None))
    monkeypatch.setattr(tool, 'check_image_list', lambda *a: ['x.jpg'])
    monkeypatch.setattr(tool, 'check_onnx_parity', fail)
    monkeypatch.setattr(
        tool, 'export_onnx', lambda *a, **k: dict(
            file='m.onnx', export_time=1.0, file_size=10, opset=18,
            input_shape=['batch', 3, 8, 4], feat_dim=4, normalize=True,
            flip=False))
    with pytest.raises(SystemExit) as err:
        tool.main([CC_CONFIG, str(ckpt), '--out', str(tmp_path / 'm.onnx')])
    assert err.value.code == 1
    assert 'FAIL: min cosine 0.50000000 < 0.9999' in capsys.readouterr().out


@pytest.mark.slow
def test_cli_flip_default_query_images(cc_export, tmp_path, monkeypatch,
                                       capsys, synthetic_tiny_root):
    """The CLI with a checkpoint, flip TTA from --cfg-options and the
    parity images taken from the config's test set (the tiny synthetic
    query split, cached by the fixture)."""
    model, plain_path, _ = cc_export
    ckpt = tmp_path / 'r18.pth'
    torch.save({'state_dict': model.state_dict()}, str(ckpt))
    out = tmp_path / 'flip.onnx'
    monkeypatch.setattr('sys.argv', [
        'export_onnx.py', CC_CONFIG,
        str(ckpt), '--out',
        str(out), '--num-check', '9', '--cfg-options',
        'test_dataloader.dataset.size=tiny', 'model.test_cfg.flip=True'
    ])
    load_tool().main()
    printed = capsys.readouterr().out
    assert 'flip-averaged' in printed
    assert 'ONNX Runtime vs PyTorch on 9 images' in printed
    assert 'PASS: min cosine' in printed
    assert onnx_contract(str(out))['metadata']['reidkit.flip'] == 'true'
    # Same weights, flip in the graph: matches the flip model, not the
    # plain one.
    images = query_paths(synthetic_tiny_root, 4)
    flip_model = init_model(
        CC_CONFIG, str(ckpt), cfg_options={'model.test_cfg.flip': True})
    batch = np.stack([
        mmcv.imresize(
            mmcv.imread(p), (32, 64), interpolation='bicubic',
            backend='pillow').transpose(2, 0, 1) for p in images
    ]).astype(np.float32)
    outs = {
        name: ort.InferenceSession(
            p, providers=['CPUExecutionProvider']).run(
                None, {'images': batch})[0]
        for name, p in (('flip', str(out)), ('plain', plain_path))
    }
    ref = extract_features(flip_model, images).numpy()
    assert (outs['flip'] * ref).sum(1).min() >= 0.9999
    assert np.abs(outs['plain'] - ref).max() > 1e-3


@pytest.mark.slow
def test_mmt_exports_the_best_teacher(tmp_path, synthetic_tiny_root):
    torch.manual_seed(0)
    model = init_model(MMT_CONFIG, cfg_options={'model.pretrained': None})
    with torch.no_grad():
        for p in model.teachers[1].parameters():
            p.mul_(1 + 0.5 * torch.randn_like(p))
        model.best_teacher.fill_(1)
    out = tmp_path / 'mmt.onnx'
    info = export_onnx(model, str(out))
    assert info['metadata']['reidkit.mmt_teacher'] == '2'
    assert info['input_shape'] == ['batch', 3, 64, 32]
    images = query_paths(synthetic_tiny_root, 8)
    report = check_onnx_parity(model, str(out), images, batch_sizes=(1, 5))
    assert report['passed']
    x = torch.rand(3, 3, 64, 32) * 255
    got = ort.InferenceSession(
        str(out), providers=['CPUExecutionProvider']).run(
            None, {'images': x.numpy()})[0]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=list(x)), False)
        t1, t2 = model.teacher_features(data['inputs'])
    np.testing.assert_allclose(got, t2.numpy(), atol=1e-5)
    assert np.abs(got - t1.numpy()).max() > 1e-2
