"""Formatting and saving of evaluation results."""
import json
import os
import os.path as osp
from typing import Dict, Sequence


def format_results(results: dict, title: str = 'model') -> str:
    """One-row markdown table of a :class:`ReIDMetric` result dict."""
    return format_table([(title, results)])


def format_table(rows: Sequence[tuple]) -> str:
    """Markdown table with one row per ``(name, results)`` pair.

    ``results`` is :attr:`ReIDMetric.last_results`: the protocol and the
    CMC curve are shown next to mAP, rank-1/5/10 and mINP.
    """
    lines = [
        '| model | protocol | mAP | rank-1 | rank-5 | rank-10 | mINP |',
        '|---|---|---|---|---|---|---|',
    ]
    for name, res in rows:
        cmc = res['cmc']
        metrics: Dict[str, float] = res['metrics']
        m_ap = next(v for k, v in metrics.items() if k.startswith('mAP'))
        minp = next(v for k, v in metrics.items() if k.startswith('mINP'))
        lines.append(f'| {name} | {res["protocol"]} | {m_ap:.1f} | '
                     f'{cmc[0]:.1f} | {cmc[4]:.1f} | {cmc[9]:.1f} | '
                     f'{minp:.1f} |')
    return '\n'.join(lines)


def write_results(results: dict, path: str) -> None:
    """Write a result dict as JSON, creating the folder; never overwrite a
    directory."""
    if osp.isdir(path):
        raise IsADirectoryError(f'--out "{path}" is a directory; give a '
                                'file name such as metrics.json.')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(results, f, indent=2)
