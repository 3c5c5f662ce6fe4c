"""init_model / extract_features against the Runner's own test path."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope

from reidkit.apis import extract_features, init_model, list_images
from reidkit.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast', 'cc_r18_synthetic.py')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A random ResNet-18 Cluster Contrast model saved like a Runner does,
    with one buffer changed so that loading is observable."""
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(3)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.neck.bn.running_mean.uniform_(-0.5, 0.5)
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)),
               str(path))
    return str(path), model.eval()


def test_init_model_loads_weights(checkpoint):
    path, reference = checkpoint
    model = init_model(CONFIG, path)
    assert not model.training
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.pipeline[0]['type'] == 'mmcv.LoadImageFromFile'
    assert model.cfg.model.type == 'ClusterContrast'


def test_extract_features_matches_runner_path(checkpoint,
                                              synthetic_tiny_root):
    """Same features as the test dataloader + model.test_step path."""
    path, _ = checkpoint
    model = init_model(CONFIG, path)
    folder = osp.join(synthetic_tiny_root, 'query')
    feats, paths = extract_features(model, folder, batch_size=5,
                                    return_paths=True)
    assert paths == list_images(folder)
    assert feats.shape == (len(paths), 512)
    assert torch.allclose(feats.norm(dim=1), torch.ones(len(paths)))

    cfg = model.cfg
    ds_cfg = dict(cfg.test_dataloader.dataset, size='tiny',
                  cache_root=osp.dirname(osp.dirname(synthetic_tiny_root)))
    with DefaultScope.overwrite_default_scope('reidkit'):
        dataset = DATASETS.build(ds_cfg)
    by_path = {}
    for i in range(len(dataset)):
        item = dataset[i]
        data = dict(inputs=[item['inputs']],
                    data_samples=[item['data_samples']])
        with torch.no_grad():  # test_step runs the data preprocessor
            out = model.test_step(data)[0]
        by_path[item['data_samples'].img_path] = F.normalize(
            out.pred_feature, dim=0)
    expected = torch.stack([by_path[p] for p in paths])
    assert torch.allclose(feats, expected, atol=1e-5)


def test_extract_features_inputs(checkpoint, synthetic_tiny_root):
    path, _ = checkpoint
    model = init_model(CONFIG, path)
    files = list_images(osp.join(synthetic_tiny_root, 'query'))[:3]
    by_file = extract_features(model, files)
    one = extract_features(model, files[1])
    assert torch.allclose(one[0], by_file[1], atol=1e-6)
    # BGR arrays as cv2 reads them, grey and BGRA arrays are converted.
    arrays = [cv2.imread(f) for f in files]
    assert torch.allclose(extract_features(model, arrays), by_file,
                          atol=1e-5)
    bgra = np.concatenate([arrays[0], np.full_like(arrays[0][..., :1],
                                                   255)], axis=2)
    assert torch.allclose(extract_features(model, [bgra])[0], by_file[0],
                          atol=1e-5)
    grey = cv2.cvtColor(arrays[0], cv2.COLOR_BGR2GRAY)
    assert extract_features(model, grey).shape == (1, 512)
    raw = extract_features(model, files, normalize=False)
    assert torch.allclose(F.normalize(raw, dim=1), by_file, atol=1e-6)
    assert model.training is False


def test_extract_features_errors(checkpoint, tmp_path):
    path, _ = checkpoint
    model = init_model(CONFIG, path)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        extract_features(model, str(tmp_path / 'nope.jpg'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='No images'):
        extract_features(model, str(empty))
    with pytest.raises(ValueError, match='H x W x 3'):
        extract_features(model, np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(TypeError, match=r'images\[1\]'):
        extract_features(model, [np.zeros((8, 4, 3), np.uint8), 3])
    with pytest.raises(AttributeError, match='init_model'):
        extract_features(torch.nn.Linear(2, 2), [np.zeros((8, 4, 3))])
    with pytest.raises(FileNotFoundError, match='Checkpoint'):
        init_model(CONFIG, str(tmp_path / 'missing.pth'))
    with pytest.raises(FileNotFoundError, match='Config file'):
        init_model(str(tmp_path / 'missing.py'))


def test_init_model_without_checkpoint_and_options():
    model = init_model(CONFIG, cfg_options={'model.test_cfg': dict(
        flip=True)})
    assert model.test_cfg['flip'] is True
    assert os.fspath(model.cfg.filename) == CONFIG


def test_checkpoint_replaces_missing_imagenet_file(tmp_path):
    """A paper config names ImageNet weights that are not on this machine:
    with a checkpoint they are not needed; without one the error names the
    file."""
    config = osp.join(ROOT, 'configs', 'cluster_contrast',
                      'cc_r50_market1501.py')
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert not osp.exists(cfg.model.backbone.init_cfg.checkpoint)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    path = str(tmp_path / 'r50.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    loaded = init_model(config, path)
    assert torch.equal(loaded.backbone.conv1.weight,
                       model.backbone.conv1.weight)
    with pytest.raises(Exception, match='resnet50-0676ba61.pth'):
        init_model(config)
