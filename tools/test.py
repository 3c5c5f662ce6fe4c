"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [options]."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from reidkit.apis import ConfigError, prepare_config, setup_distributed
from reidkit.evaluation import format_results, write_results


def parse_args():
    parser = argparse.ArgumentParser(description='Test a re-ID model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the test logs go')
    parser.add_argument(
        '--out', help='write mAP, the CMC curve and mINP to this JSON file')
    parser.add_argument(
        '--dump',
        metavar='FILE.npz',
        help='also write the distance matrix, ids, image paths and features '
        'of the test set to this .npz file (overwritten), for '
        'tools/analysis/visualize_ranks.py')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.test_cfg.flip=True')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_dump_file(cfg: Config, dump: str) -> list:
    """Make the test evaluator's ReIDMetric(s) save their distances.

    Args:
        cfg (Config): The config; ``test_evaluator`` is changed in place.
        dump (str): The ``.npz`` file. With several ReIDMetrics in the
            evaluator, the i-th writes ``{stem}_{i}.npz``.

    Returns:
        list[str]: The files that will be written.
    """
    if not dump.endswith('.npz'):
        raise SystemExit(f'--dump {dump}: give a file name ending in .npz.')
    evaluator = cfg.get('test_evaluator')
    if evaluator is None:
        raise SystemExit('--dump: the config has no test_evaluator.')
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator['metrics']  # Evaluator(metrics=...) form
    else:
        metrics = evaluator
    if isinstance(metrics, dict):
        metrics = [metrics]
    reid = [m for m in metrics if m.get('type') in
            ('ReIDMetric', 'reidkit.ReIDMetric')]
    if not reid:
        raise SystemExit(
            '--dump needs a ReIDMetric in the test_evaluator; the config has '
            f'{[m.get("type") for m in metrics]}.')
    files = []
    for i, metric in enumerate(reid):
        stem = dump[:-len('.npz')]
        name = dump if len(reid) == 1 else f'{stem}_{i}.npz'
        metric['save_file'] = name
        files.append(name)
    return files


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint "{args.checkpoint}" does not exist.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    dump_files = set_dump_file(cfg, args.dump) if args.dump else []
    try:
        prepare_config(cfg)
    except ConfigError as e:  # listed problems; no traceback needed
        raise SystemExit(str(e)) from None
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.test()
    results = runner.test_evaluator.metrics[0].last_results
    if results is None:  # not the main process
        return
    print(format_results(results, title=osp.basename(args.checkpoint)))
    if args.out:
        write_results(results, args.out)
        print(f'Results written to {args.out}')
    for name in dump_files:
        print(f'Distances, ids and features written to {name}')


if __name__ == '__main__':
    main()
