"""Draw one query's ranked gallery list as a small picture (Pillow only).

Example:
    >>> from reidkit.visualization import draw_rank_list
    >>> img = draw_rank_list('query/0017_c2s1_389336_01.jpg',
    ...                      ['bounding_box_test/0017_c3s1_389411_02.jpg',
    ...                       'bounding_box_test/0021_c1s1_000151_01.jpg'],
    ...                      distances=[0.12, 0.31], matches=[True, False],
    ...                      title='0017_c2s1_389336_01.jpg  AP 50.0%',
    ...                      out_file='rank_list.png')

The query is on the left (blue outline), then the gallery images in rank
order, each with its rank and distance underneath. With ``matches`` a true
match gets a green outline and a false one a red outline; without it the
gallery outlines are grey.
"""
import os
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Tuple, Union

from PIL import Image, ImageDraw, ImageFont

ImageLike = Union[str, os.PathLike, Image.Image]

#: Outline colours (RGB).
QUERY_COLOR = (30, 90, 230)
MATCH_COLOR = (0, 170, 0)
MISMATCH_COLOR = (220, 0, 0)
NEUTRAL_COLOR = (160, 160, 160)
#: Fill of a thumbnail whose image could not be read.
PLACEHOLDER_COLOR = (128, 128, 128)
BACKGROUND_COLOR = (255, 255, 255)
THUMB_BACKGROUND = (235, 235, 235)
TEXT_COLOR = (20, 20, 20)

#: Layout constants, in pixels.
MARGIN = 6  # around the whole picture
BORDER = 4  # outline width
GAP = 6  # between two gallery cells
SEPARATOR = 20  # between the query and the first gallery cell
LINE_HEIGHT = 13  # one line of text
TEXT_LINES = 2  # under every cell: rank, distance
TITLE_HEIGHT = 18

_FONT_SIZE = 11
_font_cache: Dict[int, ImageFont.ImageFont] = {}


def _font(size: int = _FONT_SIZE):
    """Pillow's built-in font (a scalable one where Pillow supports it)."""
    if size not in _font_cache:
        try:
            _font_cache[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError, ImportError):  # old Pillow / no FreeType
            _font_cache[size] = ImageFont.load_default()
    return _font_cache[size]


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def rank_list_layout(num_gallery: int,
                     thumb_size: Tuple[int, int] = (64, 128),
                     title: bool = False) -> dict:
    """Where :func:`draw_rank_list` puts things.

    Args:
        num_gallery (int): Number of gallery thumbnails.
        thumb_size (tuple[int, int]): ``(width, height)`` of the box every
            image is fitted into. Defaults to (64, 128).
        title (bool): Whether a title line is drawn on top. Defaults to
            False.

    Returns:
        dict: ``size`` (width, height) of the picture (before a long title
        widens it), ``query_box`` and ``gallery_boxes`` (one per gallery
        image): outer ``(x0, y0, x1, y1)`` boxes of the outlined cells
        (``x1``/``y1`` exclusive; the outline is the outer ``border``
        pixels), and ``border``.
    """
    if num_gallery < 0:
        raise ValueError(f'num_gallery must be >= 0, got {num_gallery}.')
    tw, th = _check_thumb_size(thumb_size)
    cell_w, cell_h = tw + 2 * BORDER, th + 2 * BORDER
    top = MARGIN + (TITLE_HEIGHT if title else 0)
    query_box = (MARGIN, top, MARGIN + cell_w, top + cell_h)
    x = query_box[2] + SEPARATOR
    gallery_boxes = []
    for _ in range(num_gallery):
        gallery_boxes.append((x, top, x + cell_w, top + cell_h))
        x += cell_w + GAP
    right = gallery_boxes[-1][2] if gallery_boxes else query_box[2]
    width = right + MARGIN
    height = top + cell_h + TEXT_LINES * LINE_HEIGHT + MARGIN
    return dict(
        size=(width, height),
        query_box=query_box,
        gallery_boxes=gallery_boxes,
        border=BORDER)


def _check_thumb_size(thumb_size) -> Tuple[int, int]:
    try:
        tw, th = (int(v) for v in thumb_size)
    except (TypeError, ValueError):
        raise ValueError('thumb_size must be (width, height), got '
                         f'{thumb_size!r}.') from None
    if tw < 8 or th < 8:
        raise ValueError(
            f'thumb_size must be at least (8, 8), got {(tw, th)}.')
    return tw, th


def _load(image: Optional[ImageLike], what: str) -> Optional[Image.Image]:
    """The image as RGB, or None (with a warning) if it cannot be read."""
    if isinstance(image, Image.Image):
        return image.convert('RGB')
    if image is None:
        warnings.warn(f'rank list: no image for the {what}; drawing a grey '
                      'placeholder.')
        return None
    path = os.fspath(image)
    try:
        with Image.open(path) as img:
            return img.convert('RGB')
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        reason = ('it does not exist' if not osp.exists(path) else
                  f'it could not be read ({e})')
        warnings.warn(f'rank list: {what} image "{path}" is drawn as a grey '
                      f'placeholder because {reason}.')
        return None


def _thumbnail(img: Optional[Image.Image],
               size: Tuple[int, int]) -> Image.Image:
    """Fit an image into ``size`` keeping its aspect ratio (letterboxed)."""
    tw, th = size
    if img is None:
        thumb = Image.new('RGB', size, PLACEHOLDER_COLOR)
        draw = ImageDraw.Draw(thumb)
        draw.line((0, 0, tw - 1, th - 1), fill=(200, 200, 200), width=2)
        draw.line((0, th - 1, tw - 1, 0), fill=(200, 200, 200), width=2)
        return thumb
    thumb = Image.new('RGB', size, THUMB_BACKGROUND)
    iw, ih = img.size
    scale = min(tw / iw, th / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    resized = img.resize((nw, nh), Image.BILINEAR)
    thumb.paste(resized, ((tw - nw) // 2, (th - nh) // 2))
    return thumb


def _draw_cell(canvas: Image.Image, draw: ImageDraw.ImageDraw,
               box: Tuple[int, int, int, int], thumb: Image.Image,
               color: Tuple[int, int, int], lines: Sequence[str]) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=color)
    canvas.paste(thumb, (x0 + BORDER, y0 + BORDER))
    font = _font()
    for i, line in enumerate(lines):
        w = _text_width(draw, line, font)
        x = x0 + max(0, (x1 - x0 - w) // 2)
        draw.text((x, y1 + 1 + i * LINE_HEIGHT), line, fill=TEXT_COLOR,
                  font=font)


def draw_rank_list(query: ImageLike,
                   gallery: Sequence[Optional[ImageLike]],
                   distances: Optional[Sequence[float]] = None,
                   matches: Optional[Sequence[Optional[bool]]] = None,
                   title: Optional[str] = None,
                   out_file: Optional[str] = None,
                   thumb_size: Tuple[int, int] = (64, 128),
                   query_label: str = 'query') -> Image.Image:
    """Draw a query and its top-ranked gallery images side by side.

    Every image is fitted into a ``thumb_size`` box keeping its aspect
    ratio. An image that is missing or cannot be read is drawn as a grey
    placeholder (with a warning) instead of failing.

    Args:
        query (str | PathLike | PIL.Image.Image): The query image.
        gallery (Sequence): Gallery images (paths or PIL images) in rank
            order; rank ``i + 1`` is ``gallery[i]``.
        distances (Sequence[float], optional): Distance of every gallery
            image to the query, written under it.
        matches (Sequence[bool | None], optional): Whether each gallery
            image shows the query's identity: green outline for True, red
            for False, grey for None (unknown). Without it all gallery
            outlines are grey.
        title (str, optional): A line of text on top, e.g. the query's name
            and AP. The picture is widened if the title needs it.
        out_file (str, optional): Save the picture here (PNG; parent
            folders are created).
        thumb_size (tuple[int, int]): ``(width, height)`` of a thumbnail
            box. Defaults to (64, 128), a person crop's shape.
        query_label (str): Text under the query. Defaults to 'query'.

    Returns:
        PIL.Image.Image: The RGB picture; :func:`rank_list_layout` gives
        where every cell is.
    """
    gallery = list(gallery)
    num = len(gallery)
    for name, seq in (('distances', distances), ('matches', matches)):
        if seq is not None and len(seq) != num:
            raise ValueError(f'draw_rank_list: {name} has {len(seq)} '
                             f'entries but there are {num} gallery images; '
                             'give one per gallery image.')
    thumb_size = _check_thumb_size(thumb_size)
    layout = rank_list_layout(num, thumb_size, title=bool(title))
    width, height = layout['size']
    font = _font()
    if title:
        probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
        width = max(width, _text_width(probe, title, font) + 2 * MARGIN)
    canvas = Image.new('RGB', (width, height), BACKGROUND_COLOR)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((MARGIN, MARGIN), title, fill=TEXT_COLOR, font=font)

    _draw_cell(canvas, draw, layout['query_box'],
               _thumbnail(_load(query, 'query'), thumb_size), QUERY_COLOR,
               [query_label])
    # a thin vertical rule between the query and its ranked list
    qx1 = layout['query_box'][2]
    sep_x = qx1 + SEPARATOR // 2
    draw.line((sep_x, layout['query_box'][1], sep_x,
               layout['query_box'][3] - 1), fill=NEUTRAL_COLOR, width=1)

    for i, (box, item) in enumerate(zip(layout['gallery_boxes'], gallery)):
        match = None if matches is None else matches[i]
        if match is None:
            color = NEUTRAL_COLOR
        else:
            color = MATCH_COLOR if bool(match) else MISMATCH_COLOR
        lines = [f'#{i + 1}']
        if distances is not None:
            lines.append(f'{float(distances[i]):.4f}')
        thumb = _thumbnail(_load(item, f'rank-{i + 1} gallery'), thumb_size)
        _draw_cell(canvas, draw, box, thumb, color, lines)

    if out_file is not None:
        parent = osp.dirname(osp.abspath(out_file))
        os.makedirs(parent, exist_ok=True)
        canvas.save(out_file, format='PNG')
    return canvas
