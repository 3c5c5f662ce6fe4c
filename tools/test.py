"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [options]."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from reidkit.apis import prepare_config, setup_distributed
from reidkit.evaluation import format_results, write_results


def parse_args():
    parser = argparse.ArgumentParser(description='Test a re-ID model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the test logs go')
    parser.add_argument(
        '--out', help='write mAP, the CMC curve and mINP to this JSON file')
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
    prepare_config(cfg)
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


if __name__ == '__main__':
    main()
