"""The ``make demo`` job: evaluate the initial model, train, evaluate."""
import copy
import os.path as osp
import time
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from reidkit.evaluation import format_table
from .config import prepare_config


def _metric(runner: Runner):
    return runner.test_evaluator.metrics[0]


def run_demo(config: str, work_dir: str,
             cfg_options: Optional[dict] = None) -> str:
    """Evaluate the randomly initialised model, train it, evaluate again.

    Both evaluations use the config's test split and metric. The initial
    model is the one training starts from (same seed, so same weights).

    Args:
        config (str): Config file.
        work_dir (str): Logs and checkpoints go here.
        cfg_options (dict, optional): Config overrides.

    Returns:
        str: The markdown results table (also logged).
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    prepare_config(cfg)
    name = osp.splitext(osp.basename(config))[0]
    stamp = time.strftime('%Y%m%d_%H%M%S')

    init_cfg = copy.deepcopy(cfg)
    init_cfg.experiment_name = f'{name}_{stamp}_initial'
    init_runner = Runner.from_cfg(init_cfg)
    init_runner.model.init_weights()
    init_runner.test()
    initial = _metric(init_runner).last_results

    train_cfg = copy.deepcopy(cfg)
    train_cfg.experiment_name = f'{name}_{stamp}'
    runner = Runner.from_cfg(train_cfg)
    start = time.time()
    runner.train()
    train_time = time.time() - start
    runner.test()
    trained = _metric(runner).last_results

    epochs = runner.train_loop.max_epochs
    table = format_table([
        ('initial model (random init)', initial),
        (f'trained ({epochs} epochs, {train_time / 60:.1f} min)', trained),
    ])
    print_log(f'{name} on {runner.test_dataloader.dataset.dataset_name}:\n'
              f'{table}', logger='current')
    return table
