"""Retrieval API: rank a gallery for every query, score it, draw it.

Example:
    >>> from reidkit.apis import init_model
    >>> from reidkit.apis.retrieval import retrieve
    >>> model = init_model('configs/cluster_contrast/cc_r18_synthetic.py',
    ...                    'work_dirs/cc/epoch_12.pth')
    >>> result = retrieve(model, 'data/market/query',
    ...                   'data/market/bounding_box_test', topk=10,
    ...                   out_dir='work_dirs/retrieval')
    >>> print(result.summary())

Images are compared by cosine distance (``1 - cos``) of their L2-normalised
embeddings. When identities can be read from the file names (the
Market-1501 pattern by default, or user-given regular expressions), every
query also gets its average precision under the standard protocol, with
the same rules (and tie handling) as
:func:`reidkit.evaluation.evaluate_rank`.
"""
import html
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from reidkit.evaluation.functional.rank import \
    average_precision as rank_average_precision
from .inference import extract_features

#: Market-1501 style names (``0017_c2s1_389336_01.jpg``): pid, camera.
MARKET_PID_PATTERN = r'^(-?\d+)_c\d+'
MARKET_CAMID_PATTERN = r'^-?\d+_c(\d+)'

ArrayLike = Union[np.ndarray, torch.Tensor]

__all__ = [
    'retrieve', 'rank_features', 'rank_distmat', 'write_rank_lists',
    'write_html', 'resolve_ids', 'parse_ids', 'average_precision',
    'cosine_distance', 'RetrievalResult', 'QueryResult'
]


@dataclass
class QueryResult:
    """The ranked list of one query.

    Attributes:
        index (int): Row of the query in the distance matrix.
        path (str): The query image.
        name (str): Base name of the PNG drawn for it (no extension).
        gallery_indices (np.ndarray): Top-k gallery indices, closest first
            (removed entries already skipped).
        distances (np.ndarray): Their distances.
        matches (np.ndarray | None): Whether each of them is a true match;
            None when identities are unknown.
        pid (int | None), camid (int | None): The query's ids, if known.
        ap (float | None): Average precision in [0, 1]; None when ids are
            unknown or the gallery has no true match for the query.
        first_match_rank (int | None): 1-based rank of the closest true
            match in the (filtered) list; None without a true match.
        num_matches (int | None): True matches in the filtered gallery.
        num_removed (int): Gallery entries removed from this query's list.
        image_file (str | None): The PNG, once written.
    """

    index: int
    path: str
    name: str
    gallery_indices: np.ndarray
    distances: np.ndarray
    matches: Optional[np.ndarray] = None
    pid: Optional[int] = None
    camid: Optional[int] = None
    ap: Optional[float] = None
    first_match_rank: Optional[int] = None
    num_matches: Optional[int] = None
    num_removed: int = 0
    image_file: Optional[str] = None

    @property
    def rank1_hit(self) -> Optional[bool]:
        """Whether the top-ranked image is a true match (None if unknown
        or the query has no true match)."""
        if self.first_match_rank is None:
            return None
        return self.first_match_rank == 1


@dataclass
class RetrievalResult:
    """Everything :func:`retrieve` / :func:`rank_distmat` found.

    Attributes:
        query_paths (list[str]), gallery_paths (list[str]): The images.
        distmat (np.ndarray): ``Q x G`` distances (smaller = closer).
        q_pids, g_pids, q_camids, g_camids (np.ndarray | None): Ids.
        queries (list[QueryResult]): One per query, in input order.
        topk (int): Length of the drawn lists.
        protocol (list[str]): Sentences describing what was removed and how
            identities were found (for summaries and the HTML page).
        distance (str): How distances were computed.
        query_feats (np.ndarray | None), gallery_feats (np.ndarray | None):
            The L2-normalised features, when ranked from features.
        out_dir (str | None), html_file (str | None): Where the pictures
            and ``index.html`` went, once written.
    """

    query_paths: List[str]
    gallery_paths: List[str]
    distmat: np.ndarray
    queries: List[QueryResult]
    topk: int
    q_pids: Optional[np.ndarray] = None
    g_pids: Optional[np.ndarray] = None
    q_camids: Optional[np.ndarray] = None
    g_camids: Optional[np.ndarray] = None
    protocol: List[str] = field(default_factory=list)
    distance: str = 'cosine distance (1 - cos)'
    query_feats: Optional[np.ndarray] = None
    gallery_feats: Optional[np.ndarray] = None
    out_dir: Optional[str] = None
    html_file: Optional[str] = None

    @property
    def ids_known(self) -> bool:
        return self.q_pids is not None

    @property
    def valid_queries(self) -> List[QueryResult]:
        """Queries with an AP (known ids and at least one true match)."""
        return [q for q in self.queries if q.ap is not None]

    @property
    def mAP(self) -> Optional[float]:
        """Mean of the per-query APs in [0, 1] (None if there are none)."""
        valid = self.valid_queries
        return float(np.mean([q.ap for q in valid])) if valid else None

    @property
    def rank1(self) -> Optional[float]:
        """Fraction of valid queries whose top image is a true match."""
        valid = self.valid_queries
        if not valid:
            return None
        return float(np.mean([bool(q.rank1_hit) for q in valid]))

    def summary(self) -> str:
        """A few lines for the console."""
        lines = [
            f'Ranked {len(self.queries)} queries against '
            f'{len(self.gallery_paths)} gallery images (top-{self.topk}, '
            f'{self.distance}).'
        ]
        lines += self.protocol
        if self.ids_known:
            valid = self.valid_queries
            skipped = len(self.queries) - len(valid)
            if valid:
                lines.append(
                    f'mAP {100 * self.mAP:.1f}%, rank-1 '
                    f'{100 * self.rank1:.1f}% over {len(valid)} queries with '
                    f'a true match ({skipped} without one, not scored).')
            else:
                lines.append('No query has a true match in the gallery, so '
                             'nothing was scored.')
        if self.out_dir is not None:
            num_png = sum(q.image_file is not None for q in self.queries)
            lines.append(f'Wrote {num_png} rank-list PNGs and '
                         f'{osp.basename(self.html_file or "")} to '
                         f'{self.out_dir}')
        return '\n'.join(lines)


# --------------------------------------------------------------- identities
def parse_ids(paths: Sequence[str],
              pattern: str,
              what: str = 'pid',
              strict: bool = True) -> Optional[np.ndarray]:
    """Read an integer id from every file name with a regular expression.

    Args:
        paths (Sequence[str]): Image paths; the pattern is searched
            (``re.search``) in each base name.
        pattern (str): Regular expression whose group 1 is the id (an
            integer, possibly negative).
        what (str): What the id is, for error messages. Defaults to 'pid'.
        strict (bool): Raise if a name does not match; otherwise return
            None. Defaults to True.

    Returns:
        np.ndarray | None: int64 ids, one per path.
    """
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ValueError(f'The {what} pattern {pattern!r} is not a valid '
                         f'regular expression: {e}.') from None
    if regex.groups < 1:
        raise ValueError(
            f'The {what} pattern {pattern!r} has no group; put the id in '
            r'parentheses, e.g. "^(-?\d+)_".')
    ids = []
    for path in paths:
        name = osp.basename(path)
        m = regex.search(name)
        value = m.group(1) if m else None
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            if not strict:
                return None
            found = ('does not match it' if m is None else
                     f'gives {value!r} in group 1, not an integer')
            raise ValueError(
                f'Cannot read the {what} of "{name}": the {what} pattern '
                f'{pattern!r} {found}. Fix the pattern (group 1 must be the '
                'integer id) or leave it out to treat ids as unknown.'
            ) from None
    return np.asarray(ids, dtype=np.int64)


def resolve_ids(query_paths: Sequence[str],
                gallery_paths: Sequence[str],
                pid_pattern: Optional[str] = None,
                camid_pattern: Optional[str] = None) -> Tuple[
                    Optional[np.ndarray], Optional[np.ndarray],
                    Optional[np.ndarray], Optional[np.ndarray], str]:
    """Person and camera ids of queries and gallery from their file names.

    Without patterns the Market-1501 pattern (``^(-?\\d+)_c(\\d+)``) is
    tried, and used only if every query and gallery name matches it;
    otherwise ids are unknown. A given pattern must match every name.

    Args:
        query_paths (Sequence[str]): Query images.
        gallery_paths (Sequence[str]): Gallery images.
        pid_pattern (str, optional): Regex, group 1 = person id.
        camid_pattern (str, optional): Regex, group 1 = camera id.

    Returns:
        tuple: ``(q_pids, g_pids, q_camids, g_camids, source)``; arrays or
        None, and a sentence saying where the ids came from.
    """
    paths = list(query_paths) + list(gallery_paths)
    num_q = len(query_paths)
    if pid_pattern is None:
        pids = parse_ids(paths, MARKET_PID_PATTERN, strict=False)
        if pids is None:
            if camid_pattern is not None:
                raise ValueError(
                    'A camera pattern was given but the person ids are '
                    'unknown (not every name is Market-1501 style); give a '
                    'person-id pattern too (--pid-pattern).')
            return (None, None, None, None,
                    'Identities unknown (not every file name is Market-1501 '
                    'style and no --pid-pattern was given): no scores, no '
                    'outlines.')
        pid_source = 'Market-1501 file names'
        if camid_pattern is None:
            camid_pattern = MARKET_CAMID_PATTERN
    else:
        pids = parse_ids(paths, pid_pattern, 'pid')
        pid_source = f'--pid-pattern {pid_pattern!r}'
    camids = None
    if camid_pattern is not None:
        camids = parse_ids(paths, camid_pattern, 'camid')
        source = (f'Identities from {pid_source}'
                  + ('' if camid_pattern == MARKET_CAMID_PATTERN else
                     f', cameras from --camid-pattern {camid_pattern!r}')
                  + '.')
    else:
        source = (f'Identities from {pid_source}; cameras unknown, so '
                  'same-camera matches are kept.')
    q_cams = None if camids is None else camids[:num_q]
    g_cams = None if camids is None else camids[num_q:]
    return pids[:num_q], pids[num_q:], q_cams, g_cams, source


# ------------------------------------------------------------ ranking, AP
def cosine_distance(query_feats: ArrayLike,
                    gallery_feats: ArrayLike) -> np.ndarray:
    """``1 - cos`` between rows (features are L2-normalised first).

    Args:
        query_feats (np.ndarray | Tensor): ``Q x D``.
        gallery_feats (np.ndarray | Tensor): ``G x D``.

    Returns:
        np.ndarray: ``Q x G`` float32 distances in [0, 2].
    """
    qf = torch.nn.functional.normalize(
        torch.as_tensor(query_feats).float(), dim=1)
    gf = torch.nn.functional.normalize(
        torch.as_tensor(gallery_feats).float(), dim=1)
    if qf.dim() != 2 or gf.dim() != 2 or qf.shape[1] != gf.shape[1]:
        raise ValueError('Features must be Q x D and G x D with the same D, '
                         f'got {tuple(qf.shape)} and {tuple(gf.shape)}.')
    return (1 - qf @ gf.t()).clamp_(min=0).numpy()


def average_precision(distances: np.ndarray,
                      matches: np.ndarray,
                      valid: Optional[np.ndarray] = None
                      ) -> Optional[float]:
    """Average precision of one query, tie-aware like ``evaluate_rank``
    (computed by :func:`reidkit.evaluation.average_precision`).

    A group of tied distances forms one threshold: every true match
    contributes the precision measured at the end of its tie group
    (``hits(d <= d_p) / count(d <= d_p)``), as
    :func:`sklearn.metrics.average_precision_score` does; without ties
    this is the usual sort-based AP.

    Args:
        distances (np.ndarray): ``(G,)`` distances to the gallery.
        matches (np.ndarray): ``(G,)`` bool, True for a true match.
        valid (np.ndarray, optional): ``(G,)`` bool; False entries (junk)
            are ignored.

    Returns:
        float | None: AP in [0, 1], None without a valid true match.
    """
    distances = np.asarray(distances)
    ap = rank_average_precision(
        distances[None],
        np.asarray(matches, dtype=bool)[None],
        None if valid is None else np.asarray(valid, dtype=bool)[None])[0]
    return None if np.isnan(ap) else float(ap)


def _unique_names(paths: Sequence[str]) -> List[str]:
    """File stems, made unique (``a``, ``a_2``, ...; case-insensitive)."""
    used, names = set(), []
    for path in paths:
        stem = osp.splitext(osp.basename(path))[0] or 'query'
        name, n = stem, 1
        while name.lower() in used or name.lower() == 'index':
            n += 1
            name = f'{stem}_{n}'
        used.add(name.lower())
        names.append(name)
    return names


def rank_distmat(distmat: ArrayLike,
                 query_paths: Sequence[str],
                 gallery_paths: Sequence[str],
                 topk: int = 10,
                 q_pids: Optional[ArrayLike] = None,
                 g_pids: Optional[ArrayLike] = None,
                 q_camids: Optional[ArrayLike] = None,
                 g_camids: Optional[ArrayLike] = None,
                 remove_same_camera: bool = True,
                 drop_junk_pid: bool = False,
                 exclude_self: bool = False,
                 protocol: Optional[List[str]] = None,
                 distance: str = 'cosine distance (1 - cos)'
                 ) -> RetrievalResult:
    """Rank the gallery of every query by a distance matrix and score it.

    With ids, for every query the gallery entries with its person id are
    its true matches, and (with cameras and ``remove_same_camera``) those
    with its person id *and* camera are removed first, as in
    :func:`reidkit.evaluation.evaluate_rank`; its AP is computed with the
    same tie rules, so the mean AP over queries with a true match equals
    ``evaluate_rank``'s mAP.

    Args:
        distmat (np.ndarray | Tensor): ``Q x G`` distances.
        query_paths (Sequence[str]): Query images (Q).
        gallery_paths (Sequence[str]): Gallery images (G).
        topk (int): Length of each ranked list. Defaults to 10.
        q_pids, g_pids (array, optional): Person ids (both or neither).
        q_camids, g_camids (array, optional): Camera ids (both or
            neither; need the person ids).
        remove_same_camera (bool): Remove same-pid same-camera gallery
            entries (when cameras are known). Defaults to True.
        drop_junk_pid (bool): Remove gallery entries with pid -1
            (Market-1501's junk images, which the data sets drop).
            Defaults to False.
        exclude_self (bool): Remove a gallery entry that is the query's own
            file. Defaults to False.
        protocol (list[str], optional): Sentences describing how ids were
            found; the removal rules are appended.
        distance (str): How the distances were computed (for summaries).

    Returns:
        RetrievalResult: The ranked lists and scores.
    """
    dist = np.asarray(torch.as_tensor(distmat).cpu().numpy())
    query_paths = [str(p) if p is not None else '' for p in query_paths]
    gallery_paths = [str(p) if p is not None else '' for p in gallery_paths]
    if dist.ndim != 2 or dist.shape != (len(query_paths),
                                        len(gallery_paths)):
        raise ValueError(
            f'distmat has shape {dist.shape}, but there are '
            f'{len(query_paths)} queries and {len(gallery_paths)} gallery '
            'images (rows are queries, columns gallery images).')
    if dist.size == 0:
        raise ValueError('rank_distmat needs at least one query and one '
                         'gallery image.')
    if not np.isfinite(dist).all():
        raise ValueError('distmat holds NaN or inf: the model produced '
                         'non-finite features?')
    if not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f'topk must be a positive integer, got {topk!r}.')
    if (q_pids is None) != (g_pids is None):
        raise ValueError('Give both q_pids and g_pids, or neither.')
    if (q_camids is None) != (g_camids is None):
        raise ValueError('Give both q_camids and g_camids, or neither.')
    if q_camids is not None and q_pids is None:
        raise ValueError('Camera ids need person ids (q_pids, g_pids).')

    def ids(x, n, name):
        if x is None:
            return None
        arr = np.asarray(torch.as_tensor(x).cpu().numpy()).astype(np.int64)
        if arr.shape != (n, ):
            raise ValueError(f'{name} has shape {arr.shape}, expected '
                             f'({n},).')
        return arr

    num_q, num_g = dist.shape
    q_pids, g_pids = ids(q_pids, num_q, 'q_pids'), ids(g_pids, num_g,
                                                       'g_pids')
    q_camids = ids(q_camids, num_q, 'q_camids')
    g_camids = ids(g_camids, num_g, 'g_camids')
    use_cams = q_camids is not None and remove_same_camera
    protocol = list(protocol or [])
    if q_pids is not None:
        if use_cams:
            protocol.append('Gallery images with the query\'s identity and '
                            'camera are removed from its list (standard '
                            'protocol).')
        elif q_camids is not None:
            protocol.append('Same-identity same-camera gallery images are '
                            'KEPT (--keep-same-camera): scores are not '
                            'comparable with the standard protocol.')
        if drop_junk_pid and (g_pids == -1).any():
            protocol.append(f'{int((g_pids == -1).sum())} gallery images '
                            'with pid -1 (junk) are left out.')
    if exclude_self:
        self_cols = {}
        for j, p in enumerate(gallery_paths):
            if p:
                self_cols.setdefault(osp.realpath(p), []).append(j)

    names = _unique_names(query_paths)
    base_valid = np.ones(num_g, dtype=bool)
    if q_pids is not None and drop_junk_pid:
        base_valid &= g_pids != -1
    queries = []
    for i in range(num_q):
        valid = base_valid.copy()
        if exclude_self and query_paths[i]:
            valid[self_cols.get(osp.realpath(query_paths[i]), [])] = False
        matches_all = None
        if q_pids is not None:
            matches_all = g_pids == q_pids[i]
            if use_cams:
                valid &= ~(matches_all & (g_camids == q_camids[i]))
        order = np.argsort(dist[i], kind='stable')
        order = order[valid[order]]
        top = order[:topk]
        q = QueryResult(
            index=i,
            path=query_paths[i],
            name=names[i],
            gallery_indices=top,
            distances=dist[i, top],
            num_removed=int(num_g - valid.sum()))
        if q_pids is not None:
            q.pid = int(q_pids[i])
            q.camid = None if q_camids is None else int(q_camids[i])
            q.matches = matches_all[top]
            ranked_matches = matches_all[order]
            q.num_matches = int(ranked_matches.sum())
            if q.num_matches:
                q.ap = average_precision(dist[i], matches_all, valid)
                q.first_match_rank = int(np.argmax(ranked_matches)) + 1
        queries.append(q)
    return RetrievalResult(
        query_paths=query_paths,
        gallery_paths=gallery_paths,
        distmat=dist,
        queries=queries,
        topk=int(topk),
        q_pids=q_pids,
        g_pids=g_pids,
        q_camids=q_camids,
        g_camids=g_camids,
        protocol=protocol,
        distance=distance)


def rank_features(query_feats: ArrayLike,
                  gallery_feats: ArrayLike,
                  query_paths: Sequence[str],
                  gallery_paths: Sequence[str],
                  topk: int = 10,
                  pid_pattern: Optional[str] = None,
                  camid_pattern: Optional[str] = None,
                  keep_same_camera: bool = False) -> RetrievalResult:
    """Rank by cosine distance, with ids read from the file names.

    See :func:`retrieve`, which extracts the features and calls this.
    Gallery entries with pid -1 (junk) and the query's own file are left
    out of its list.

    Args:
        query_feats (np.ndarray | Tensor): ``Q x D`` query features.
        gallery_feats (np.ndarray | Tensor): ``G x D`` gallery features.
        query_paths (Sequence[str]): The Q query images.
        gallery_paths (Sequence[str]): The G gallery images.
        topk (int): Length of each ranked list. Defaults to 10.
        pid_pattern (str, optional): See :func:`resolve_ids`.
        camid_pattern (str, optional): See :func:`resolve_ids`.
        keep_same_camera (bool): Keep same-identity same-camera gallery
            images. Defaults to False.

    Returns:
        RetrievalResult: The ranked lists and scores.
    """
    query_paths, gallery_paths = list(query_paths), list(gallery_paths)
    qf = torch.nn.functional.normalize(
        torch.as_tensor(query_feats).float(), dim=1)
    gf = torch.nn.functional.normalize(
        torch.as_tensor(gallery_feats).float(), dim=1)
    dist = cosine_distance(qf, gf)
    q_pids, g_pids, q_cams, g_cams, source = resolve_ids(
        query_paths, gallery_paths, pid_pattern, camid_pattern)
    result = rank_distmat(
        dist,
        query_paths,
        gallery_paths,
        topk=topk,
        q_pids=q_pids,
        g_pids=g_pids,
        q_camids=q_cams,
        g_camids=g_cams,
        remove_same_camera=not keep_same_camera,
        drop_junk_pid=True,
        exclude_self=True,
        protocol=[source])
    result.query_feats = qf.numpy()
    result.gallery_feats = gf.numpy()
    return result


# ----------------------------------------------------------------- output
def _query_title(q: QueryResult) -> str:
    title = osp.basename(q.path) or f'query {q.index}'
    if q.ap is not None:
        title += f'   AP {100 * q.ap:.1f}%'
    elif q.pid is not None:
        title += '   (no true match in the gallery)'
    return title


def write_rank_lists(result: RetrievalResult,
                     out_dir: str,
                     indices: Optional[Sequence[int]] = None,
                     file_names: Optional[Sequence[str]] = None,
                     thumb_size: Tuple[int, int] = (64, 128),
                     title_fn: Optional[Callable[[QueryResult], str]] = None,
                     html_title: str = 'reidkit retrieval') -> str:
    """Draw the rank lists of some queries and an ``index.html`` for them.

    Only the files named here are (over)written; other files in
    ``out_dir`` stay.

    Args:
        result (RetrievalResult): From :func:`retrieve` or
            :func:`rank_distmat`.
        out_dir (str): Output folder (created if needed).
        indices (Sequence[int], optional): Queries to draw, in page order.
            Defaults to all.
        file_names (Sequence[str], optional): PNG base names (no
            extension), one per drawn query. Defaults to each query's
            unique file stem (``{query_stem}.png``).
        thumb_size (tuple[int, int]): Thumbnail box. Defaults to (64, 128).
        title_fn (callable, optional): Title of a picture from its
            :class:`QueryResult`. Defaults to the query name and its AP.
        html_title (str): Heading of the page.

    Returns:
        str: Path of ``index.html``.
    """
    from reidkit.visualization import draw_rank_list
    os.makedirs(out_dir, exist_ok=True)
    if indices is None:
        indices = range(len(result.queries))
    indices = list(indices)
    if file_names is not None and len(file_names) != len(indices):
        raise ValueError('file_names needs one name per drawn query.')
    title_fn = title_fn or _query_title
    for n, i in enumerate(indices):
        q = result.queries[i]
        name = q.name if file_names is None else file_names[n]
        out_file = osp.join(out_dir, f'{name}.png')
        draw_rank_list(
            q.path or None, [
                result.gallery_paths[j] or None for j in q.gallery_indices
            ],
            distances=q.distances,
            matches=None if q.matches is None else list(q.matches),
            title=title_fn(q),
            out_file=out_file,
            thumb_size=thumb_size)
        q.image_file = out_file
    html_file = osp.join(out_dir, 'index.html')
    write_html(result, html_file, indices, html_title)
    result.out_dir = out_dir
    result.html_file = html_file
    return html_file


def write_html(result: RetrievalResult,
               out_file: str,
               indices: Optional[Sequence[int]] = None,
               title: str = 'reidkit retrieval') -> None:
    """Write a page with one table row per drawn query.

    Columns: the query name, its rank-list picture (linked relative to the
    page, so keep them in one folder) and, with ids, its AP and whether
    rank 1 is a true match.

    Args:
        result (RetrievalResult): Queries with ``image_file`` set.
        out_file (str): The ``.html`` file.
        indices (Sequence[int], optional): Rows, in order. Defaults to all.
        title (str): Page heading.
    """
    esc = html.escape
    indices = range(len(result.queries)) if indices is None else indices
    page_dir = osp.dirname(osp.abspath(out_file))
    lines = [
        '<!DOCTYPE html>', '<html><head><meta charset="utf-8">',
        f'<title>{esc(title)}</title>',
        '<style>body{font-family:sans-serif;margin:1em}'
        'table{border-collapse:collapse}'
        'td,th{border:1px solid #ccc;padding:4px;text-align:left;'
        'vertical-align:middle}</style>', '</head><body>',
        f'<h1>{esc(title)}</h1>',
        f'<p>{len(result.queries)} queries, {len(result.gallery_paths)} '
        f'gallery images, top-{result.topk} by {esc(result.distance)}.</p>'
    ]
    for sentence in result.protocol:
        lines.append(f'<p>{esc(sentence)}</p>')
    if result.ids_known and result.valid_queries:
        lines.append(
            f'<p><b>mAP {100 * result.mAP:.1f}%, rank-1 '
            f'{100 * result.rank1:.1f}%</b> over '
            f'{len(result.valid_queries)} queries with a true match. '
            'Outlines: green = same identity, red = another identity, '
            'blue = the query.</p>')
    header = ['query', 'ranked gallery']
    if result.ids_known:
        header += ['AP', 'rank-1 hit']
    lines.append('<table><tr>' + ''.join(f'<th>{h}</th>' for h in header) +
                 '</tr>')
    for i in indices:
        q = result.queries[i]
        cells = [esc(osp.basename(q.path) or f'query {q.index}')]
        if q.image_file:
            src = osp.relpath(osp.abspath(q.image_file), page_dir)
            src = src.replace(os.sep, '/')
            cells.append(f'<img src="{esc(src)}" alt="{esc(q.name)}">')
        else:
            cells.append('')
        if result.ids_known:
            if q.ap is None:
                cells += ['no true match', '']
            else:
                cells += [f'{100 * q.ap:.1f}%',
                          'yes' if q.rank1_hit else 'no']
        lines.append('<tr>' + ''.join(f'<td>{c}</td>' for c in cells) +
                     '</tr>')
    lines += ['</table>', '</body></html>', '']
    with open(out_file, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))


# -------------------------------------------------------------------- API
def retrieve(model: torch.nn.Module,
             query,
             gallery,
             topk: int = 10,
             out_dir: Optional[str] = None,
             batch_size: int = 64,
             pid_pattern: Optional[str] = None,
             camid_pattern: Optional[str] = None,
             keep_same_camera: bool = False,
             progress: bool = False,
             thumb_size: Tuple[int, int] = (64, 128)) -> RetrievalResult:
    """Rank a gallery for every query image; optionally draw the lists.

    Both sets are embedded with :func:`~reidkit.apis.extract_features`
    and compared by cosine distance. Identities are read from the file
    names (see :func:`resolve_ids`); when they are known, every query gets
    its AP and rank-1 hit, gallery images with pid -1 (Market-1501's junk)
    are left out and, when cameras are known and ``keep_same_camera`` is
    False, so are same-identity same-camera gallery images (the standard
    protocol). A gallery image that is the query's own file is always left
    out of that query's list.

    Args:
        model (nn.Module): From :func:`~reidkit.apis.init_model`.
        query (str | list[str]): A query image, a folder of them
            (recursive) or a list of image paths.
        gallery (str | list[str]): A gallery folder or a list of paths.
        topk (int): Length of each ranked list. Defaults to 10.
        out_dir (str, optional): Write ``{query_stem}.png`` per query and
            ``index.html`` here (created; other files are left alone).
        batch_size (int): Feature extraction batch size. Defaults to 64.
        pid_pattern (str, optional): Regex, group 1 = person id, searched
            in each file name. Defaults to the Market-1501 pattern if every
            name matches it, else ids are unknown.
        camid_pattern (str, optional): Regex, group 1 = camera id.
        keep_same_camera (bool): Keep same-identity same-camera gallery
            images. Defaults to False.
        progress (bool): Show progress bars. Defaults to False.
        thumb_size (tuple[int, int]): Thumbnail box of the pictures.

    Returns:
        RetrievalResult: Ranked lists, per-query AP, ``summary()``.
    """
    for what, value in (('query', query), ('gallery', gallery)):
        if isinstance(value, (str, os.PathLike)) and not osp.exists(value):
            raise FileNotFoundError(
                f'The {what} "{os.fspath(value)}" does not exist; give an '
                'image, a folder of images or a list of image paths.')
    for what, value in (('query', query), ('gallery', gallery)):
        items = [value] if isinstance(value, (str, os.PathLike)) else value
        if not all(isinstance(v, (str, os.PathLike)) for v in items):
            raise TypeError(
                f'retrieve takes image paths or folders as the {what} (to '
                'name and draw the images); for arrays use '
                'extract_features and rank_distmat.')
    if not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f'topk must be a positive integer, got {topk!r}.')
    qf, q_paths = extract_features(
        model, query, batch_size=batch_size, progress=progress,
        return_paths=True)
    gf, g_paths = extract_features(
        model, gallery, batch_size=batch_size, progress=progress,
        return_paths=True)
    result = rank_features(
        qf,
        gf,
        q_paths,
        g_paths,
        topk=topk,
        pid_pattern=pid_pattern,
        camid_pattern=camid_pattern,
        keep_same_camera=keep_same_camera)
    if out_dir is not None:
        write_rank_lists(result, out_dir, thumb_size=thumb_size)
    return result
