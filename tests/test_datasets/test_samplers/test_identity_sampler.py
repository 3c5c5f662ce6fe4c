
import numpy as np
import pytest

from reidkit.datasets import IdentitySampler


class FakeDataset:
    """Minimal dataset: labels and cameras only."""

    def __init__(self, labels, camids):
        self.infos = [dict(gt_label=l, camid=c) for l, c in zip(labels, camids)]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return self.infos[i]


def make_dataset(num_ids=10, per_id=6, num_cams=3, outliers=5):
    labels, cams = [], []
    for pid in range(num_ids):
        for j in range(per_id):
            labels.append(pid)
            cams.append((pid + j) % num_cams)
    labels += [-1] * outliers
    cams += [0] * outliers
    return FakeDataset(labels, cams)


def batches(sampler):
    idx = list(sampler)
    return [idx[i:i + sampler.batch_size]
            for i in range(0, len(idx), sampler.batch_size)]


def test_pk_structure_fixed_length_and_no_outliers():
    ds = make_dataset()
    s = IdentitySampler(ds, batch_size=16, num_instances=4,
                        iters_per_epoch=7, seed=0)
    idx = list(s)
    assert len(idx) == len(s) == 7 * 16
    labels = np.array([ds.get_data_info(i)['gt_label'] for i in range(len(ds))])
    assert (labels[idx] >= 0).all()
    for batch in batches(s):
        groups = [labels[batch[i:i + 4]] for i in range(0, 16, 4)]
        for g in groups:  # K consecutive indices share one identity
            assert len(set(g)) == 1
        assert len({g[0] for g in groups}) == 4  # P distinct identities


def test_camera_preference():
    # identity 0: anchor camera decides; 3 images in cam 0, 3 in cam 1
    ds = FakeDataset([0] * 6 + [1] * 6, [0, 0, 0, 1, 1, 1] * 2)
    s = IdentitySampler(ds, batch_size=4, num_instances=4,
                        iters_per_epoch=50, seed=3)
    cams = np.array([ds.get_data_info(i)['camid'] for i in range(len(ds))])
    for batch in batches(s):
        anchor, rest = batch[0], batch[1:]
        # 3 images in the other camera = K-1: all companions differ
        assert (cams[rest] != cams[anchor]).all()
        assert len(set(rest)) == 3  # without replacement
    nocam = IdentitySampler(ds, batch_size=4, num_instances=4,
                            iters_per_epoch=50, seed=3, camera_aware=False)
    same = sum((cams[b[1:]] == cams[b[0]]).any() for b in batches(nocam))
    assert same > 0


def test_single_image_identity_and_with_replacement():
    ds = FakeDataset([0, 1, 1], [0, 0, 1])
    s = IdentitySampler(ds, batch_size=8, num_instances=4,
                        iters_per_epoch=3, seed=0)
    for batch in batches(s):
        for i in range(0, 8, 4):
            group = batch[i:i + 4]
            if group[0] == 0:
                assert group == [0, 0, 0, 0]
            else:
                assert set(group) <= {1, 2} and len(group) == 4


def test_seeded_per_epoch():
    ds = make_dataset()
    a = IdentitySampler(ds, batch_size=8, num_instances=4,
                        iters_per_epoch=5, seed=1)
    b = IdentitySampler(ds, batch_size=8, num_instances=4,
                        iters_per_epoch=5, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first


def test_set_labels_and_errors():
    ds = make_dataset(num_ids=4, per_id=4, outliers=0)
    s = IdentitySampler(ds, batch_size=8, num_instances=4,
                        iters_per_epoch=4, seed=0)
    new = np.full(len(ds), -1)
    new[:8] = [5, 5, 5, 5, 9, 9, 9, 9]
    s.set_labels(new)
    assert set(s) <= set(range(8))
    assert len(s) == 32  # epoch length unchanged
    with pytest.raises(ValueError, match='one label per image'):
        s.set_labels([0, 1])
    with pytest.raises(ValueError, match='every label is -1'):
        s.set_labels(np.full(len(ds), -1))
    with pytest.raises(ValueError, match='multiple of num_instances'):
        IdentitySampler(ds, batch_size=10, num_instances=4)


def test_default_epoch_length_is_one_pass():
    ds = make_dataset(num_ids=10)
    s = IdentitySampler(ds, batch_size=8, num_instances=4, seed=0)
    assert s.iters_per_epoch == 5  # ceil(10 ids / 2 ids per batch)


def test_rank_shards_are_disjoint(monkeypatch):
    ds = make_dataset(num_ids=12, per_id=4, outliers=0)
    labels = np.array([ds.get_data_info(i)['gt_label'] for i in range(len(ds))])
    seen = []
    for rank in range(3):
        monkeypatch.setattr(
            'reidkit.datasets.samplers.identity_sampler.get_dist_info',
            lambda r=rank: (r, 3))
        # 12 ids / 3 ranks = 4 ids per rank per pass; one pass = 2 batches
        s = IdentitySampler(ds, batch_size=8, num_instances=4,
                            iters_per_epoch=2, seed=7)
        seen.append(set(labels[list(s)]))
        assert len(seen[-1]) == 4
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert set.union(*seen) == set(range(12))


def test_prepare_config_fills_batch_size():
    from mmengine.config import Config
    from reidkit.apis import prepare_config
    cfg = Config(dict(train_dataloader=dict(
        batch_size=32, dataset=dict(type='SyntheticReID'),
        sampler=dict(type='IdentitySampler', num_instances=4))))
    assert prepare_config(cfg).train_dataloader.sampler.batch_size == 32
    cfg.train_dataloader.sampler.batch_size = 16
    with pytest.raises(ValueError, match='differs'):
        prepare_config(cfg)
    with pytest.raises(ValueError, match='prepare_config'):
        IdentitySampler(make_dataset(), num_instances=4)
