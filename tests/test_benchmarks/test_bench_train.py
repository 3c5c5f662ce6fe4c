"""CPU smoke test of benchmarks/bench_train.py (a GPU benchmark)."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'benchmarks', 'bench_train.py')
TINY = [
    '--config', 'configs/cluster_contrast/cc_r18_synthetic.py', '--device',
    'cpu', '--batch', '8', '--height', '64', '--width', '32', '--iters',
    '2', '--warmup', '1', '--num-images', '300', '--num-clusters', '20',
    '--extract-batch', '16', '--extract-iters', '4', '--extract-warmup',
    '1', '--iters-per-epoch', '5'
]


def run(args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, SCRIPT, *args],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)


def test_bench_train_cpu_smoke(tmp_path):
    out = tmp_path / 'bench_train.json'
    proc = run(TINY + ['--out', str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    for stage in ('training', 'extraction'):
        m = re.search(rf'^{stage}\s+([0-9.]+)\s', text, re.M)
        assert m, text
        assert float(m.group(1)) > 0
    shares = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^(extraction|clustering|training) \(.*\)\s+[0-9.]+\s+'
            r'([0-9.]+)%$', text, re.M)
    }
    assert set(shares) == {'extraction', 'clustering', 'training'}, text
    assert abs(sum(shares.values()) - 100) <= 0.2, shares
    assert 'For the docs:' in text and 'AMP: bfloat16' in text

    result = json.loads(out.read_text())
    assert result['ok']
    assert result['iters_per_epoch'] == 5
    assert result['training']['images_per_s'] > 0
    assert result['extraction']['images_per_s'] > 0
    assert result['clustering']['device']['clusters'] > 0
    epoch = result['epoch']
    assert sum(epoch['share'].values()) == pytest.approx(100)
    assert sum(epoch['stages'].values()) == pytest.approx(epoch['seconds'])
    assert epoch['stages']['training'] == pytest.approx(
        5 * 8 / result['training']['images_per_s'])


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs no GPU')
def test_bench_train_cuda_missing():
    proc = run(['--device', 'cuda'])
    assert proc.returncode == 2
    assert '--device cpu' in proc.stderr
