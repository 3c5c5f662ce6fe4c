"""PseudoLabelHook on the tiny synthetic set, inside mmengine's Runner."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import reidkit.clustering.features as features_module
from reidkit.apis import prepare_config
from reidkit.clustering.features import FeatureFile, FeatureFileWriter
from reidkit.engine.hooks import (PseudoLabelHook, camera_standardize,
                                  camera_standardize_file,
                                  relabel_contiguous)
from reidkit.engine.hooks import pseudo_label_hook
from reidkit.registry import CLUSTERERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'cluster_contrast',
                  'cc_r18_synthetic.py')

pytestmark = pytest.mark.slow


@CLUSTERERS.register_module(force=True)
class ScriptedClusterer:
    """Clusters by ground truth split in two halves, except on the calls
    listed in ``outlier_calls`` where every image is an outlier."""

    calls = 0

    def __init__(self, num_clusters=8, outlier_calls=()):
        self.num_clusters = num_clusters
        self.outlier_calls = set(outlier_calls)

    def fit_predict(self, features):
        call = ScriptedClusterer.calls
        ScriptedClusterer.calls += 1
        n = len(features)
        if call in self.outlier_calls:
            return -np.ones(n, dtype=np.int64)
        # Deterministic, feature-based: k-means on the features.
        from sklearn.cluster import KMeans
        labels = KMeans(self.num_clusters, n_init=1,
                        random_state=0).fit_predict(features)
        return labels * 10 + 5  # not contiguous: the hook relabels


class Recorder(Hook):
    priority = 'VERY_LOW'  # after the PseudoLabelHook

    def __init__(self):
        self.labels = {}

    def before_train_epoch(self, runner):
        model = runner.model
        sampler = runner.train_dataloader.sampler
        self.labels[runner.epoch] = (model.pseudo_labels.clone(),
                                     sampler.labels.copy())


def tiny_cfg(work_dir, cache_root, name, clusterer, **overrides):
    cfg = Config.fromfile(CONFIG)
    opts = {
        'train_cfg.max_epochs': 3,
        'train_cfg.val_interval': 3,
        'train_dataloader.sampler.iters_per_epoch': 2,
        'train_dataloader.batch_size': 16,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
        'default_hooks.logger.interval': 1,
        'custom_hooks.0.progress': False,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({
            f'{loader}.dataset.size': 'tiny',
            f'{loader}.dataset.cache_root': cache_root,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    opts.update(overrides)
    cfg.merge_from_dict(opts)
    # Replace (not merge into) the config's DBSCAN settings.
    cfg.custom_hooks[0]['clusterer'] = clusterer
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    return prepare_config(cfg)


def _hook(runner):
    return [h for h in runner.hooks if isinstance(h, PseudoLabelHook)][0]


def test_relabel_contiguous():
    out = relabel_contiguous(np.array([7, -1, 3, 7, 12, -1]))
    assert out.tolist() == [1, -1, 0, 1, 2, -1]


def test_camera_standardize_by_hand():
    # camera 0: rows (1, 2), (3, 2) -> mean (2, 2), std (1, 0)
    #   -> (-1, 0), (1, 0) (0 / (0 + 1e-6) = 0)
    # camera 1: rows (0, 5), (0, 1) -> mean (0, 3), std (0, 2)
    #   -> (0, 1), (0, -1)
    feats = np.array([[1., 2.], [0., 5.], [3., 2.], [0., 1.]])
    out = camera_standardize(feats, np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(
        out, [[-1, 0], [0, 1], [1, 0], [0, -1]], atol=1e-5)


def test_hook_relabels_logs_quality_and_survives_all_outliers(
        tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    ScriptedClusterer.calls = 0
    runner = Runner.from_cfg(
        tiny_cfg(tmp_path, cache, 'cc', dict(
            type='ScriptedClusterer', num_clusters=8, outlier_calls=[1])))
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    assert ScriptedClusterer.calls == 3
    n = len(runner.train_dataloader.dataset)
    for epoch in range(3):
        model_labels, sampler_labels = rec.labels[epoch]
        assert len(model_labels) == n
        assert sorted(set(model_labels.tolist())) == list(range(8))
        assert np.array_equal(model_labels.numpy(), sampler_labels)
    # Epoch 1: every image an outlier -> the epoch-0 labels were kept.
    assert torch.equal(rec.labels[1][0], rec.labels[0][0])
    assert runner.model.memory.num_clusters == 8

    hook = _hook(runner)
    stats = hook.last_stats
    assert stats['num_clusters'] == 8 and stats['num_outliers'] == 0
    for key in ('nmi', 'ari', 'pairwise_precision', 'pairwise_recall',
                'time_extract', 'time_cluster', 'time_memory'):
        assert key in stats
    assert 0 <= stats['nmi'] <= 1

    log = open(glob.glob(osp.join(tmp_path, '*', '*.log'))[0]).read()
    assert 'Epoch 0 pseudo labels: 8 clusters, 0 outliers' in log
    assert 'quality NMI' in log
    assert 'every image is an outlier after clustering' in log
    scalars = [
        json.loads(line) for line in open(
            glob.glob(osp.join(tmp_path, '*', 'vis_data', 'scalars.json'))
            [0])
    ]
    pl = [s for s in scalars if 'pseudo_label/nmi' in s]
    assert [s['step'] for s in pl] == [0, 1, 2]
    assert all('pseudo_label/num_clusters' in s for s in pl)


def test_extraction_set_must_match_train_set(tmp_path, synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    cfg = tiny_cfg(tmp_path, cache, 'cc', dict(type='ScriptedClusterer'))
    test_set = dict(cfg.test_dataloader.dataset)  # query + gallery
    cfg.custom_hooks[0]['dataloader'] = dict(
        batch_size=8, num_workers=0, dataset=test_set)
    with pytest.raises(ValueError, match='same order'):
        Runner.from_cfg(cfg).train()


def test_resume_continues_with_checkpoint_labels(tmp_path,
                                                 synthetic_tiny_root):
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    clusterer = dict(type='ScriptedClusterer', num_clusters=6)
    ScriptedClusterer.calls = 0
    first = Runner.from_cfg(
        tiny_cfg(tmp_path, cache, 'first', clusterer,
                 **{'custom_hooks.0.interval': 2,
                    'train_cfg.max_epochs': 2}))
    rec = Recorder()
    first.register_hook(rec)
    first.train()
    assert ScriptedClusterer.calls == 1  # epoch 0 only (interval 2)
    ckpt = osp.join(tmp_path, 'epoch_1.pth')
    saved = torch.load(ckpt, map_location='cpu')['state_dict']
    assert torch.equal(saved['pseudo_labels'], rec.labels[0][0])

    ScriptedClusterer.calls = 0
    resumed = Runner.from_cfg(
        tiny_cfg(tmp_path / 'resumed', cache, 'resumed', clusterer,
                 resume=True, load_from=ckpt,
                 **{'custom_hooks.0.interval': 2,
                    'train_cfg.max_epochs': 2}))
    rec2 = Recorder()
    resumed.register_hook(rec2)
    resumed.train()
    # Resumed at epoch 1, between two clusterings: no new clustering, the
    # checkpoint's labels reach the model and the sampler.
    assert ScriptedClusterer.calls == 0
    labels, sampler_labels = rec2.labels[1]
    assert torch.equal(labels, rec.labels[0][0])
    assert np.array_equal(sampler_labels, labels.numpy())
    # The memory was restored at the checkpoint's size (6 clusters).
    assert (resumed.model.memory.features.shape ==
            saved['memory.features'].shape)
    assert resumed.model.memory.features.shape[0] == 6


# ----------------------------------------------------------------------
# Out-of-core features


def test_out_of_core_arguments_are_checked():
    clusterer = dict(type='ScriptedClusterer')
    for bad in ('yes', 1, None):
        with pytest.raises(ValueError, match='out_of_core must be'):
            PseudoLabelHook(clusterer, out_of_core=bad)
    for bad in (0, -1.5, True, '4096'):
        with pytest.raises(ValueError, match='out_of_core_mb'):
            PseudoLabelHook(clusterer, out_of_core_mb=bad)
    with pytest.raises(ValueError, match='feature_dir'):
        PseudoLabelHook(clusterer, feature_dir=3)
    # 'auto': a file when N * D * 4 bytes exceed out_of_core_mb MiB
    hook = PseudoLabelHook(clusterer, out_of_core_mb=1)
    assert not hook.uses_file(1024, 256)  # exactly 1 MiB
    assert hook.uses_file(1025, 256)
    assert not PseudoLabelHook(clusterer).uses_file(10**6, 1024)  # 3.8 GiB
    assert PseudoLabelHook(clusterer).uses_file(10**6, 2048)  # 7.6 GiB
    assert PseudoLabelHook(clusterer, out_of_core=True).uses_file(1, 1)
    assert not PseudoLabelHook(
        clusterer, out_of_core=False, out_of_core_mb=1e-6).uses_file(
            10**6, 2048)


def test_camera_standardize_file_equals_in_memory(tmp_path):
    # the hand-computed example of test_camera_standardize_by_hand
    feats = np.array([[1., 2.], [0., 5.], [3., 2.], [0., 1.]], np.float32)
    np.save(tmp_path / 'f.npy', feats)
    out = camera_standardize_file(
        FeatureFile(str(tmp_path / 'f.npy')), np.array([0, 1, 0, 1]),
        str(tmp_path / 'out.npy'), chunk_rows=3)
    assert isinstance(out, FeatureFile) and out.shape == (4, 2)
    np.testing.assert_allclose(
        out.read(0, 4), [[-1, 0], [0, 1], [1, 0], [0, -1]], atol=1e-6)

    # random features with a camera bias, several chunks, a camera with
    # a single image (a zero row), cameras not numbered 0..C-1
    rng = np.random.RandomState(0)
    camids = rng.choice([3, 7, 11, 20], 500)
    camids[123] = 99
    feats = (rng.randn(500, 24) * 0.1 + rng.randn(24) +
             rng.randn(100, 24)[camids]).astype(np.float32)
    np.save(tmp_path / 'g.npy', feats)
    expected = camera_standardize(feats, camids)
    for chunk_rows in (None, 1, 37):
        out = camera_standardize_file(
            FeatureFile(str(tmp_path / 'g.npy')), camids,
            str(tmp_path / 'out.npy'), chunk_rows=chunk_rows).read(0, 500)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
        assert not out[123].any()
    with pytest.raises(ValueError, match='one camera id per row'):
        camera_standardize_file(FeatureFile(str(tmp_path / 'g.npy')),
                                camids[:10], str(tmp_path / 'out.npy'))
    with pytest.raises(ValueError, match='overwrite its input'):
        camera_standardize_file(FeatureFile(str(tmp_path / 'g.npy')),
                                camids, str(tmp_path / 'g.npy'))


def test_shared_file_system_checks(tmp_path, monkeypatch):
    """The errors a rank raises when the feature file is not shared (one
    process: the collectives do nothing, the rank is patched)."""
    hook = PseudoLabelHook(
        dict(type='ScriptedClusterer'), feature_dir=str(tmp_path / 'f'))
    path = str(tmp_path / 'f' / 'train_features.npy')
    monkeypatch.setattr(pseudo_label_hook, 'get_dist_info', lambda: (1, 2))
    # rank 1 does not see the file rank 0 created
    with pytest.raises(RuntimeError,
                       match='rank 1 cannot open the feature file'):
        hook._open_writer(None, (6, 3), torch.device('cpu'))
    try:
        hook._open_writer(None, (6, 3), torch.device('cpu'))
    except RuntimeError as err:
        assert 'file system shared by all ranks' in str(err)
    # ... or sees a stale file of another shape
    FeatureFileWriter(path, (5, 3)).close()
    with pytest.raises(RuntimeError, match='holds 5 x 3 features'):
        hook._open_writer(None, (6, 3), torch.device('cpu'))
    # the rows the ranks wrote are not in this rank's file
    writer = FeatureFileWriter(path, (2, 3))
    writer.write([0, 1], np.ones((2, 3), np.float32))
    seen = torch.ones(2, dtype=torch.int32)
    probe = (torch.tensor([1]), torch.full((1, 3), 2.0))
    with pytest.raises(RuntimeError, match='does not hold the rows'):
        hook._close_writer(writer, seen, probe)
    writer = FeatureFileWriter(path, (2, 3))
    writer.write([0, 1], np.ones((2, 3), np.float32))
    feats = hook._close_writer(writer, seen, (probe[0], probe[1] / 2))
    assert feats.shape == (2, 3)
    # a row nobody wrote
    writer = FeatureFileWriter(path, (2, 3))
    with pytest.raises(RuntimeError, match='extracted 1 of 2 train images'):
        hook._close_writer(writer, torch.tensor([1, 0], dtype=torch.int32),
                           probe)


def _ooc_run(tmp_path, cache, name, clusterer, **hook_opts):
    overrides = {'train_cfg.max_epochs': 2, 'randomness.seed': 0,
                 'train_dataloader.sampler.iters_per_epoch': 1}
    overrides.update(
        {f'custom_hooks.0.{k}': v for k, v in hook_opts.items()})
    runner = Runner.from_cfg(
        tiny_cfg(tmp_path / name, cache, name, clusterer, **overrides))
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    return runner, rec


def test_out_of_core_run_equals_in_memory(tmp_path, synthetic_tiny_root,
                                          monkeypatch):
    """Cluster Contrast with camera normalisation, 2 epochs, same seed:
    features in a file (read in chunks of 16 rows by the camera
    normalisation, the Jaccard step and the centroids) give the labels and
    memory of features in memory."""
    cache = osp.dirname(osp.dirname(synthetic_tiny_root))
    clusterer = dict(type='DBSCAN', eps=0.6, min_samples=2, k1=10, k2=3)
    mem, mem_rec = _ooc_run(tmp_path, cache, 'memory', clusterer,
                            camera_normalize=True, out_of_core=False)
    assert not osp.exists(tmp_path / 'memory' / 'pseudo_label_features')

    monkeypatch.setattr(features_module, '_CHUNK_BYTES', 16 * 512 * 4)
    disk, disk_rec = _ooc_run(tmp_path, cache, 'disk', clusterer,
                              camera_normalize=True, out_of_core=True)
    n = len(mem.train_dataloader.dataset)
    for epoch in (0, 1):
        labels, sampler_labels = disk_rec.labels[epoch]
        assert torch.equal(labels, mem_rec.labels[epoch][0])
        assert np.array_equal(sampler_labels, mem_rec.labels[epoch][1])
        assert len(labels) == n and labels.max() >= 4  # real clusters
    assert not torch.equal(disk_rec.labels[0][0], disk_rec.labels[1][0])
    assert torch.equal(disk.model.memory.features,
                       mem.model.memory.features)

    feature_dir = tmp_path / 'disk' / 'pseudo_label_features'
    feats = FeatureFile(str(feature_dir / 'train_features.npy'))
    assert feats.shape == (n, 512)
    camnorm = FeatureFile(str(feature_dir / 'train_features_camnorm.npy'))
    assert camnorm.shape == (n, 512)
    assert 'time_camera_normalize' in _hook(disk).last_stats
    log = open(glob.glob(osp.join(tmp_path, 'disk', '*', '*.log'))[0]).read()
    assert log.count('a cache rewritten at every clustering') == 1

    # The same model's features: in memory, and in a file chosen by 'auto'
    # (0.2 MiB > 0.1 MiB), are the same numbers.
    hook = _hook(mem)
    in_memory = hook.extract(mem)
    assert isinstance(in_memory, torch.Tensor)  # 'auto' -> memory
    hook.out_of_core, hook.out_of_core_mb = 'auto', 0.1
    hook.feature_dir = str(tmp_path / 'auto')
    on_disk = hook.extract(mem)
    assert isinstance(on_disk, FeatureFile)
    assert on_disk.path == str(tmp_path / 'auto' / 'train_features.npy')
    assert torch.equal(torch.from_numpy(on_disk.read(0, n)), in_memory)
