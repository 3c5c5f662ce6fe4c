"""Draw the ranked lists of the best, worst or random queries of a test run.

    python tools/test.py CONFIG CHECKPOINT --dump work_dirs/test/dump.npz
    python tools/analysis/visualize_ranks.py work_dirs/test/dump.npz \\
        --mode worst --num 10 --topk 10 --out work_dirs/test/worst

Every query's AP is computed from the dumped distances with the rules of
:func:`reidkit.evaluation.evaluate_rank` (same-identity same-camera gallery
images removed when cameras are known; queries without a true match
skipped), so the mean over all scored queries is the run's mAP. The chosen
queries are drawn as ``{out}/{order}_{query_stem}.png`` (green outline =
true match, red = false) with an ``index.html``, and listed on the console.
"""
import argparse
import os.path as osp
from typing import List, Sequence

import numpy as np

from reidkit.apis.retrieval import (RetrievalResult, rank_distmat,
                                    write_rank_lists)

REQUIRED_KEYS = ('distmat', 'query_img_paths', 'gallery_img_paths', 'q_pids',
                 'g_pids', 'q_camids', 'g_camids')
MODES = ('best', 'worst', 'random')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw ranked lists of the best/worst/random queries of '
        'a dump from tools/test.py --dump.')
    parser.add_argument('dump', help='.npz file from tools/test.py --dump')
    parser.add_argument('--mode', choices=MODES, default='worst')
    parser.add_argument(
        '--num', type=int, default=10, help='number of queries to draw')
    parser.add_argument(
        '--topk', type=int, default=10, help='gallery images per query')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of --mode random')
    return parser.parse_args(argv)


def load_dump(path: str) -> dict:
    """Read a ``ReIDMetric(save_file=...)`` dump and check its keys.

    Args:
        path (str): The ``.npz`` file.

    Returns:
        dict: Its arrays (``protocol`` as a str).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Dump "{path}" does not exist; write one with '
            'tools/test.py CONFIG CHECKPOINT --dump FILE.npz.')
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise KeyError(
            f'"{path}" lacks {missing}; is it a dump from tools/test.py '
            '--dump (ReIDMetric save_file)?')
    data['protocol'] = str(data.get('protocol', 'standard'))
    return data


def rank_dump(data: dict, topk: int = 10) -> RetrievalResult:
    """Ranked lists and per-query AP of a dump, as ``evaluate_rank`` scores.

    Cameras are used only if every query and gallery image has one (>= 0),
    as :class:`~reidkit.evaluation.ReIDMetric` does.

    Args:
        data (dict): From :func:`load_dump`.
        topk (int): Length of the ranked lists. Defaults to 10.

    Returns:
        RetrievalResult: One :class:`QueryResult` per query.
    """
    q_cams, g_cams = data['q_camids'], data['g_camids']
    has_cams = bool((q_cams >= 0).all() and (g_cams >= 0).all())
    protocol = [f'Test-run protocol: {data["protocol"]}.']
    if not has_cams:
        protocol.append('Some images have no camera id, so same-camera '
                        'matches are kept (as in the test run).')
    distance = ('re-ranked distance' if 'rerank' in data['protocol'] else
                'squared Euclidean distance of L2-normalised features')
    return rank_distmat(
        data['distmat'],
        [str(p) for p in data['query_img_paths']],
        [str(p) for p in data['gallery_img_paths']],
        topk=topk,
        q_pids=data['q_pids'],
        g_pids=data['g_pids'],
        q_camids=q_cams if has_cams else None,
        g_camids=g_cams if has_cams else None,
        remove_same_camera=True,
        protocol=protocol,
        distance=distance)


def select_queries(aps: Sequence[float],
                   mode: str,
                   num: int,
                   seed: int = 0) -> List[int]:
    """Indices of the ``num`` best, worst or random entries of ``aps``.

    Args:
        aps (Sequence[float | None]): AP per query; None (no true match)
            is never chosen.
        mode (str): 'best' (highest AP first), 'worst' (lowest first) or
            'random'. Ties keep the query order.
        num (int): How many.
        seed (int): Seed of 'random'. Defaults to 0.

    Returns:
        list[int]: Query indices in the order to show them.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}.')
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}.')
    valid = [i for i, ap in enumerate(aps) if ap is not None]
    if not valid:
        raise ValueError('No query has a true match in the gallery, so no '
                         'query has an AP to choose by.')
    num = min(num, len(valid))
    if mode == 'random':
        rng = np.random.default_rng(seed)
        return [valid[i] for i in rng.choice(len(valid), num, replace=False)]
    sign = -1 if mode == 'best' else 1
    return sorted(valid, key=lambda i: (sign * aps[i], i))[:num]


def main(argv=None):
    args = parse_args(argv)
    if args.topk < 1:
        raise SystemExit(f'--topk must be >= 1, got {args.topk}.')
    if args.num < 1:
        raise SystemExit(f'--num must be >= 1, got {args.num}.')
    if osp.isfile(args.out):
        raise SystemExit(f'--out "{args.out}" is a file; give a folder.')
    try:
        data = load_dump(args.dump)
        result = rank_dump(data, args.topk)
        chosen = select_queries([q.ap for q in result.queries], args.mode,
                                args.num, args.seed)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise SystemExit(str(e).strip('"\'')) from None
    width = len(str(len(chosen)))
    names = [f'{n + 1:0{width}d}_{result.queries[i].name}'
             for n, i in enumerate(chosen)]
    missing = [p for p in result.query_paths if p and not osp.isfile(p)]
    if missing:
        print(f'Warning: {len(missing)} query images are not at their '
              f'dumped paths (e.g. {missing[0]}); they are drawn as grey '
              'placeholders.')
    html_file = write_rank_lists(
        result,
        args.out,
        indices=chosen,
        file_names=names,
        html_title=f'{args.mode} queries of {osp.basename(args.dump)}')
    print(f'{len(result.valid_queries)} of {len(result.queries)} queries '
          f'have a true match; mAP {100 * result.mAP:.2f}% '
          f'[{data["protocol"]}]. {args.mode} {len(chosen)}:')
    for n, i in enumerate(chosen):
        q = result.queries[i]
        print(f'  {n + 1:>{width}}. AP {100 * q.ap:6.2f}%  '
              f'rank-1 {"hit " if q.rank1_hit else "miss"}  '
              f'{osp.basename(q.path) or f"query {i}"}')
    print(f'Wrote {len(chosen)} PNGs and {osp.basename(html_file)} to '
          f'{args.out}')
    return result, chosen


if __name__ == '__main__':
    main()
