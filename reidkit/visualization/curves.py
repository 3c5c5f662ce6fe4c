"""Training curves from mmengine's ``scalars.json``.

mmengine's ``LocalVisBackend`` writes ``{work_dir}/{timestamp}/vis_data/
scalars.json``, one JSON object per line. In a reidkit run there are four
kinds of lines:

- **training** lines (``LoggerHook`` every ``interval`` iterations): ``lr``,
  ``loss``, ``loss_*``, ``time``, ``data_time`` ... with ``epoch`` (1-based,
  the epoch being trained), ``iter`` (global) and ``step`` (= ``iter``);
- **validation** lines: ``reid/mAP``, ``reid/rank1`` ... with ``step`` = the
  number of epochs trained (plus their own ``time`` and ``data_time``);
- **pseudo-label** lines of :class:`~reidkit.engine.PseudoLabelHook`:
  ``pseudo_label/num_clusters``, ``pseudo_label/nmi`` ... with ``step`` =
  ``runner.epoch`` *before* the epoch that trains on them (0 before the
  first epoch);
- other per-epoch lines, e.g. ``gds/...`` of ``GDSStatsHook``, with ``step``
  = the epoch just trained.

:func:`parse_scalars` puts every key on one axis, the **epoch**: a training
key is averaged over the lines of each epoch and placed at that epoch; a
validation or other per-epoch value at its ``step``; a pseudo-label value
at ``step + 1``, the epoch trained with those labels. So at x = e the plots
show the clusters that epoch e trained on, its mean loss and the accuracy
after it.
"""
import glob
import json
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

#: Keys of a line that place it rather than being plotted.
POSITION_KEYS = ('step', 'epoch', 'iter')
#: Prefix of the pseudo-label scalars (logged before the epoch they serve).
PSEUDO_LABEL_PREFIX = 'pseudo_label/'

#: The default panels of :func:`plot_curves`: (title, y label, keys).
DEFAULT_PANELS: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (
    ('Validation', 'accuracy (%)', ('reid/mAP', 'reid/rank1')),
    ('Training loss (epoch mean)', 'loss', ('loss', )),
    ('Pseudo labels trained on', 'count',
     ('pseudo_label/num_clusters', 'pseudo_label/num_outliers')),
    ('Pseudo-label quality', 'score', ('pseudo_label/nmi',
                                       'pseudo_label/ari')),
)

Series = Dict[str, np.ndarray]


def find_scalars_file(path: str) -> str:
    """The ``scalars.json`` of a run.

    Args:
        path (str): A ``scalars.json`` file, or a work dir. In a work dir
            the files ``*/vis_data/scalars.json`` are tried from the latest
            timestamp folder back, and the latest one holding training
            lines (a ``tools/test.py`` run in the same work dir writes one
            without) is taken; when none holds any, the latest file.

    Returns:
        str: The file.

    Raises:
        FileNotFoundError: When ``path`` does not exist or holds no
            ``scalars.json``.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'"{path}" is neither a scalars.json file nor a work dir.')
    found = sorted(glob.glob(osp.join(path, '*', 'vis_data',
                                      'scalars.json')),
                   reverse=True)
    if not found:
        raise FileNotFoundError(
            f'No */vis_data/scalars.json under the work dir "{path}". '
            'mmengine writes it when the config\'s visualizer has a '
            'LocalVisBackend (reidkit\'s default_runtime.py does) and the '
            'run logged at least once; pass the file itself if it is '
            'elsewhere.')
    for candidate in found:
        if any(_is_training(r) for r in load_scalars(candidate)):
            return candidate
    return found[0]


def load_scalars(path: str) -> List[dict]:
    """The lines of a ``scalars.json`` file as dicts (blank lines skipped).

    Args:
        path (str): The file.

    Returns:
        list[dict]: One dict per line, in file order.

    Raises:
        ValueError: When a line is not a JSON object.
    """
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f'{path}, line {lineno}, is not JSON ({e}); is this an '
                    'mmengine vis_data/scalars.json file?') from None
            if not isinstance(record, dict):
                raise ValueError(f'{path}, line {lineno}, is not a JSON '
                                 'object.')
            records.append(record)
    return records


def _is_training(record: dict) -> bool:
    return 'epoch' in record and 'iter' in record


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and np.isfinite(value))


def parse_scalars(source: Union[str, Sequence[dict]]) -> Dict[str, Series]:
    """Per-key series of a run, against the epoch.

    See the module docstring for where each kind of line is placed:
    training keys are averaged per epoch (``x`` = the epoch, 1-based),
    validation and other per-epoch keys are at ``x = step``, pseudo-label
    keys at ``x = step + 1``. The ``time`` and ``data_time`` of validation
    lines are named ``val/time`` and ``val/data_time``. When a key is
    logged twice at the same ``x`` (e.g. a resumed run appended to the
    same file), the later value wins.

    Args:
        source (str | Sequence[dict]): A ``scalars.json`` file, a work dir
            (see :func:`find_scalars_file`) or already loaded lines.

    Returns:
        dict[str, dict]: ``{key: {'x': ndarray, 'y': ndarray, 'n':
        ndarray}}`` sorted by ``x``; ``n`` is the number of lines averaged
        into each point (1 for non-training keys). Keys keep the order in
        which they first appear.
    """
    if isinstance(source, (str, os.PathLike)):
        records = load_scalars(find_scalars_file(os.fspath(source)))
    else:
        records = list(source)
    sums: Dict[str, Dict[float, List[float]]] = OrderedDict()
    points: Dict[str, Dict[float, float]] = OrderedDict()

    def put(key, x, value):
        sums.setdefault(key, {})
        points.setdefault(key, {})[x] = value

    train = defaultdict(lambda: defaultdict(list))  # key -> epoch -> values
    for record in records:
        if _is_training(record):
            epoch = record['epoch']
            for key, value in record.items():
                if key not in POSITION_KEYS and _is_number(value):
                    sums.setdefault(key, {})
                    train[key][epoch].append(float(value))
            continue
        if 'step' not in record:
            continue
        step = record['step']
        is_val = any(k.startswith('reid/') for k in record)
        for key, value in record.items():
            if key in POSITION_KEYS or not _is_number(value):
                continue
            if key.startswith(PSEUDO_LABEL_PREFIX):
                put(key, step + 1, float(value))
            elif is_val and '/' not in key:
                put(f'val/{key}', step, float(value))
            else:
                put(key, step, float(value))

    series = OrderedDict()
    for key in sums:
        if key in train:
            xs = sorted(train[key])
            ys = [float(np.mean(train[key][x])) for x in xs]
            ns = [len(train[key][x]) for x in xs]
        else:
            xs = sorted(points[key])
            ys = [points[key][x] for x in xs]
            ns = [1] * len(xs)
        series[key] = dict(x=np.asarray(xs, dtype=np.float64),
                           y=np.asarray(ys, dtype=np.float64),
                           n=np.asarray(ns, dtype=np.int64))
    return series


def new_figure(figsize: Tuple[float, float]) -> Figure:
    """A matplotlib figure drawn by the Agg canvas, without pyplot (so no
    GUI backend is needed and the caller's pyplot state is untouched).

    Args:
        figsize (tuple): ``(width, height)`` in inches.

    Returns:
        Figure: The figure.
    """
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def run_name(path: str) -> str:
    """A short name for a run: its work dir's folder name.

    Args:
        path (str): A work dir or a ``{work_dir}/{timestamp}/vis_data/
            scalars.json`` file.

    Returns:
        str: The name.
    """
    path = osp.abspath(path)
    if osp.isfile(path):
        parts = path.split(os.sep)
        if len(parts) >= 4 and parts[-2] == 'vis_data':
            return parts[-4]
        return osp.splitext(osp.basename(path))[0]
    return osp.basename(path.rstrip(os.sep))


def plot_curves(runs: Sequence[Tuple[str, Dict[str, Series]]],
                out_file: str,
                panels: Optional[Sequence[Tuple[str, str,
                                                Sequence[str]]]] = None,
                figsize: Optional[Tuple[float, float]] = None,
                dpi: int = 100,
                title: Optional[str] = None) -> List[str]:
    """Plot several runs' series into subplots and save the figure.

    Every panel shows its keys for every run: the colour tells the run,
    the line style (and marker) the key. A panel none of whose keys any run
    has is left out.

    Args:
        runs (Sequence[tuple]): ``(name, series)`` pairs, the series from
            :func:`parse_scalars`.
        out_file (str): The image to write (its folder is created); the
            format follows the extension (``.png``, ``.pdf``, ``.svg``).
        panels (Sequence[tuple], optional): ``(title, y label, keys)`` per
            panel. Defaults to :data:`DEFAULT_PANELS`.
        figsize (tuple, optional): Inches. Defaults to 4 x 3 per panel,
            two panels a row, plus 0.3 for a title and 0.25 per row of the
            runs' legend (with several runs, three names a row).
        dpi (int): Defaults to 100.
        title (str, optional): The figure's title.

    Returns:
        list[str]: The titles of the panels left out (no data).

    Raises:
        ValueError: When no run has any key of any panel.
    """
    panels = list(DEFAULT_PANELS if panels is None else panels)
    shown, skipped = [], []
    for panel in panels:
        if any(k in series for _, series in runs for k in panel[2]):
            shown.append(panel)
        else:
            skipped.append(panel[0])
    if not shown:
        keys = sorted({k for _, series in runs for k in series})
        raise ValueError(
            'None of the requested keys ('
            + ', '.join(k for p in panels for k in p[2])
            + ') is in the scalars; the runs have: ' + ', '.join(keys))
    ncols = 1 if len(shown) == 1 else 2
    nrows = (len(shown) + ncols - 1) // ncols
    many = len(runs) > 1
    legend_ncol = min(len(runs), 3)
    legend_rows = (len(runs) + legend_ncol - 1) // legend_ncol if many else 0
    if figsize is None:
        figsize = (4.0 * ncols, 3.0 * nrows + (0.3 if title else 0) +
                   0.25 * legend_rows)
    fig = new_figure(figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = matplotlib.rcParams['axes.prop_cycle'].by_key()['color']
    styles = ('-', '--', ':', '-.')
    markers = ('o', 's', '^', 'D', 'v')
    for ax, (panel_title, ylabel, keys) in zip(axes.flat, shown):
        present = [k for k in keys if any(k in s for _, s in runs)]
        for r, (name, series) in enumerate(runs):
            for k, key in enumerate(present):
                if key not in series:
                    continue
                data = series[key]
                ax.plot(data['x'], data['y'],
                        color=colors[r % len(colors)],
                        linestyle=styles[k % len(styles)],
                        marker=markers[k % len(markers)],
                        markersize=3, linewidth=1.2,
                        label=None if many else key.split('/')[-1])
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel('epoch', fontsize=9)
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if many and len(present) > 1:
            # The line style tells the key; the figure legend the run.
            ax.legend(handles=[
                Line2D([], [], color='0.3', linestyle=styles[k % len(styles)],
                       marker=markers[k % len(markers)], markersize=3,
                       label=key.split('/')[-1])
                for k, key in enumerate(present)], fontsize=7, loc='best')
        elif not many:
            ax.legend(fontsize=7, loc='best')
    for ax in list(axes.flat)[len(shown):]:
        ax.axis('off')
    if title:
        fig.suptitle(title, fontsize=11)
    bottom = 0.0
    if many:
        handles = [
            Line2D([], [], color=colors[r % len(colors)], linewidth=2,
                   label=name) for r, (name, _) in enumerate(runs)
        ]
        fig.legend(handles=handles, loc='lower center', ncol=legend_ncol,
                   fontsize=8, frameon=False)
        bottom = min(0.3, 0.25 * legend_rows / fig.get_figheight())
    fig.tight_layout(rect=(0, bottom, 1, 1))
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    return skipped
