"""`make demo`: python tools/demo.py CONFIG [--work-dir DIR]."""
import argparse

from mmengine.config import DictAction

from reidkit.apis import run_demo


def main():
    parser = argparse.ArgumentParser(
        description='Train on the built-in synthetic data and print the '
        'initial vs trained results table')
    parser.add_argument('config')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    table = run_demo(args.config, args.work_dir, args.cfg_options)
    print('\n' + table)


if __name__ == '__main__':
    main()
