"""Procedurally generated person re-ID data in the Market-1501 folder layout.

Real re-ID benchmarks cannot be downloaded in CI, so reidkit draws its own
small data set of person-like crops. The data is meant for tests, demos and
smoke-training runs; it is *not* a substitute for a real benchmark.

Overview
--------
* An **identity** is a set of appearance attributes (build, skin, hair, top
  garment colour + pattern, bottom colour + type, shoes, optional backpack,
  shoulder bag and hat). A fraction of the identities are *near duplicates*:
  a copy of another identity of the same split with one or two attributes
  changed, which makes them hard negatives.
* A **camera** has its own background, illumination gain, colour cast,
  blur, sensor noise, JPEG quality, internal render resolution (the crop is
  drawn at that resolution and upsampled to 128x64) and a mix of viewpoints
  (front / back / side). Within a camera the images of one identity come from
  one short "tracklet" and look alike; across cameras their appearance shifts,
  which makes cross-camera matching the hard part, as in real re-ID.
* Everything is drawn with numpy (OpenCV only resizes and blurs, Pillow writes
  the JPEG files). Every random choice comes from a
  :func:`numpy.random.default_rng` seeded with ``(seed, style, purpose,
  indices...)``, so images and attributes do not depend on generation order
  and a given ``(size, style, seed)`` always gives byte-identical files (with
  the same numpy / OpenCV / Pillow builds).

The public entry points are :func:`generate_synthetic_reid` and
:func:`ensure_synthetic_reid`.
"""
import colorsys
import copy
import json
import multiprocessing as mp
import os
import os.path as osp
import shutil
import time
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from PIL import Image

__all__ = [
    'GENERATOR_VERSION', 'SYNTHETIC_SIZES', 'SYNTHETIC_STYLES',
    'generate_synthetic_reid', 'ensure_synthetic_reid', 'sample_identity',
    'render_person_crop'
]

#: Bump whenever the drawn pixels or the layout change; it is part of the
#: cache folder name, so stale caches are never reused.
GENERATOR_VERSION = 2

IMG_H, IMG_W = 128, 64

#: Size presets. ``cams_per_id`` / ``*_imgs_per_cam`` are inclusive
#: ``(low, high)`` ranges drawn uniformly per identity / per camera. The
#: exact resulting statistics are listed in ``docs/synthetic_data.md`` and in
#: the ``meta.json`` of every generated folder.
SYNTHETIC_SIZES: Dict[str, dict] = {
    # Unit tests: ~250 images, well under a second to generate.
    'tiny':
    dict(
        num_train_ids=16,
        num_test_ids=16,
        cams_per_id=(2, 3),
        train_imgs_per_cam=(2, 3),
        gallery_imgs_per_cam=(2, 3),
        max_query_cams=2,
        num_distractors=8,
        num_junk=4,
        near_duplicate_frac=0.2),
    # Quick experiments: ~2.5k images.
    'small':
    dict(
        num_train_ids=100,
        num_test_ids=100,
        cams_per_id=(2, 4),
        train_imgs_per_cam=(3, 5),
        gallery_imgs_per_cam=(2, 4),
        max_query_cams=2,
        num_distractors=50,
        num_junk=15,
        near_duplicate_frac=0.2),
    # Demo / CI training: a few hundred ids and several thousand images.
    'default':
    dict(
        num_train_ids=300,
        num_test_ids=300,
        cams_per_id=(2, 5),
        train_imgs_per_cam=(3, 7),
        gallery_imgs_per_cam=(2, 6),
        max_query_cams=2,
        num_distractors=400,
        num_junk=100,
        near_duplicate_frac=0.2),
}

SYNTHETIC_STYLES = ('market', 'other')
_STYLE_CODE = {'market': 0, 'other': 1}

# Purpose codes mixed into every seed so that independent random streams
# never collide.
_P_IDENTITY, _P_DUPLICATE, _P_LAYOUT, _P_TRACK, _P_IMAGE = 1, 2, 3, 4, 5
_P_CAMERA, _P_DISTRACTOR, _P_JUNK = 6, 7, 8

_VIEWS = ('front', 'back', 'side')


def _rng(seed: int, style: str, *keys: int) -> np.random.Generator:
    """A random stream determined only by ``(seed, style, keys)``."""
    entropy = [int(seed), _STYLE_CODE[style]] + [int(k) for k in keys]
    return np.random.default_rng(entropy)


# ---------------------------------------------------------------------------
# Colour palettes
# ---------------------------------------------------------------------------
# A palette is a list of (weight, hue range, saturation range, value range)
# clusters in HSV (hue in degrees). Style 'market' is bright summer clothing;
# style 'other' is darker winter clothing, like Duke.
_PALETTES = {
    'market': {
        'top': [
            (0.18, (0, 360), (0.0, 0.08), (0.85, 0.98)),  # white
            (0.12, (0, 360), (0.0, 0.06), (0.35, 0.70)),  # grey
            (0.15, (0, 360), (0.0, 0.15), (0.06, 0.18)),  # black
            (0.10, (205, 230), (0.50, 0.90), (0.25, 0.50)),  # navy
            (0.08, (350, 365), (0.65, 0.95), (0.60, 0.90)),  # red
            (0.08, (200, 225), (0.55, 0.90), (0.65, 0.95)),  # blue
            (0.07, (95, 150), (0.45, 0.85), (0.45, 0.80)),  # green
            (0.06, (45, 60), (0.60, 0.95), (0.80, 0.98)),  # yellow
            (0.06, (320, 345), (0.35, 0.65), (0.75, 0.95)),  # pink
            (0.05, (20, 35), (0.70, 0.95), (0.80, 0.98)),  # orange
            (0.05, (265, 290), (0.45, 0.80), (0.45, 0.80)),  # purple
        ],
        'bottom': [
            (0.30, (210, 225), (0.35, 0.65), (0.35, 0.65)),  # jeans
            (0.25, (0, 360), (0.0, 0.15), (0.06, 0.18)),  # black
            (0.15, (0, 360), (0.0, 0.08), (0.30, 0.60)),  # grey
            (0.15, (30, 45), (0.25, 0.45), (0.60, 0.82)),  # khaki
            (0.05, (0, 360), (0.0, 0.06), (0.85, 0.97)),  # white
            (0.10, (0, 360), (0.45, 0.85), (0.35, 0.85)),  # coloured
        ],
        'shoes': [
            (0.45, (0, 360), (0.0, 0.06), (0.80, 0.97)),  # white sneakers
            (0.35, (0, 360), (0.0, 0.15), (0.05, 0.20)),  # black
            (0.20, (15, 35), (0.40, 0.70), (0.25, 0.50)),  # brown
        ],
        'accessory': [
            (0.35, (0, 360), (0.0, 0.15), (0.06, 0.20)),  # black
            (0.15, (0, 360), (0.0, 0.08), (0.45, 0.75)),  # grey
            (0.20, (15, 35), (0.45, 0.75), (0.30, 0.60)),  # brown/tan
            (0.30, (0, 360), (0.55, 0.90), (0.45, 0.90)),  # colourful
        ],
        'long_sleeve_p':
        0.25,
        'bottom_types':
        (('trousers', 0.55), ('shorts', 0.30), ('skirt', 0.15)),
    },
    'other': {
        'top': [
            (0.30, (0, 360), (0.0, 0.15), (0.04, 0.14)),  # black coat
            (0.15, (205, 235), (0.40, 0.80), (0.15, 0.35)),  # dark navy
            (0.12, (0, 360), (0.0, 0.06), (0.25, 0.50)),  # dark grey
            (0.10, (15, 35), (0.35, 0.65), (0.25, 0.50)),  # brown
            (0.08, (90, 150), (0.35, 0.70), (0.18, 0.40)),  # olive/green
            (0.07, (345, 365), (0.55, 0.85), (0.30, 0.55)),  # burgundy
            (0.08, (0, 360), (0.0, 0.06), (0.75, 0.92)),  # light / white
            (0.05, (195, 215), (0.40, 0.75), (0.55, 0.80)),  # light blue
            (0.05, (0, 360), (0.60, 0.95), (0.60, 0.90)),  # bright
        ],
        'bottom': [
            (0.42, (0, 360), (0.0, 0.15), (0.04, 0.14)),  # black
            (0.30, (210, 230), (0.40, 0.75), (0.18, 0.40)),  # dark jeans
            (0.13, (0, 360), (0.0, 0.08), (0.22, 0.45)),  # grey
            (0.10, (25, 40), (0.25, 0.50), (0.40, 0.65)),  # khaki
            (0.05, (0, 360), (0.40, 0.80), (0.25, 0.60)),  # coloured
        ],
        'shoes': [
            (0.55, (0, 360), (0.0, 0.15), (0.04, 0.15)),  # black
            (0.25, (15, 35), (0.40, 0.75), (0.18, 0.40)),  # brown boots
            (0.20, (0, 360), (0.0, 0.06), (0.70, 0.92)),  # white
        ],
        'accessory': [
            (0.45, (0, 360), (0.0, 0.15), (0.04, 0.16)),  # black
            (0.20, (0, 360), (0.0, 0.08), (0.30, 0.55)),  # grey
            (0.20, (15, 35), (0.45, 0.75), (0.20, 0.45)),  # brown
            (0.15, (0, 360), (0.50, 0.90), (0.35, 0.75)),  # colourful
        ],
        'long_sleeve_p':
        0.85,
        'bottom_types':
        (('trousers', 0.82), ('shorts', 0.06), ('skirt', 0.12)),
    },
}

_HAIR_COLOURS = [  # (weight, rgb)
    (0.45, (20, 16, 14)),  # black
    (0.25, (60, 38, 24)),  # dark brown
    (0.12, (110, 72, 40)),  # brown
    (0.08, (190, 150, 90)),  # blonde
    (0.05, (140, 140, 140)),  # grey
    (0.05, (130, 50, 30)),  # auburn
]


def _hsv(h: float, s: float, v: float) -> List[int]:
    r, g, b = colorsys.hsv_to_rgb((h % 360.0) / 360.0, s, v)
    return [int(round(255 * c)) for c in (r, g, b)]


def _pick(rng: np.random.Generator, weights: Sequence[float]) -> int:
    """Index drawn with probability proportional to ``weights``."""
    total = float(sum(weights))
    x = rng.random() * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if x < acc:
            return i
    return len(weights) - 1


def _sample_colour(rng: np.random.Generator, palette: list) -> List[int]:
    k = _pick(rng, [c[0] for c in palette])
    _, hr, sr, vr = palette[k]
    return _hsv(rng.uniform(*hr), rng.uniform(*sr), rng.uniform(*vr))


def _distinct_colour(rng: np.random.Generator, palette: list,
                     other: Sequence[int]) -> List[int]:
    """A palette colour that is visibly different from ``other``."""
    colour = _sample_colour(rng, palette)
    for _ in range(10):
        if np.abs(np.subtract(colour, other)).sum() > 120:
            break
        colour = _sample_colour(rng, palette)
    return colour


def _shade_colour(rng: np.random.Generator,
                  colour: Sequence[int]) -> List[int]:
    """The same colour a clearly different shade (lighter or darker)."""
    h, s, v = colorsys.rgb_to_hsv(*[c / 255.0 for c in colour])
    if v > 0.55:
        v = v - rng.uniform(0.25, 0.4)
    else:
        v = v + rng.uniform(0.25, 0.4)
    return _hsv(h * 360 + rng.uniform(-8, 8), min(1.0, s * 1.1), v)


# ---------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------
def sample_identity(rng: np.random.Generator, style: str = 'market') -> dict:
    """Draw the appearance attributes of one person.

    Returns a JSON-serialisable dict; colours are ``[r, g, b]`` lists.
    """
    pal = _PALETTES[style]
    skin_t = rng.beta(2.0, 2.0)
    skin = np.array([238, 204, 178]) * (1 - skin_t) + np.array([104, 70, 48
                                                                ]) * skin_t
    hair_k = _pick(rng, [h[0] for h in _HAIR_COLOURS])
    top = _sample_colour(rng, pal['top'])
    pattern = ('solid', 'hstripes', 'vtwotone',
               'logo')[_pick(rng, [0.45, 0.2, 0.15, 0.2])]
    bottom_types = pal['bottom_types']
    attrs = dict(
        height=float(rng.uniform(0.86, 1.0)),
        width=float(rng.uniform(0.85, 1.2)),
        skin=[int(c) for c in skin.round()],
        hair_colour=list(_HAIR_COLOURS[hair_k][1]),
        hair_length=('short', 'medium', 'long')[_pick(rng, [0.5, 0.25, 0.25])],
        top_colour=top,
        top_pattern=pattern,
        top_colour2=_distinct_colour(rng, pal['top'], top),
        stripe_period=float(rng.uniform(0.035, 0.06)),
        long_sleeves=bool(rng.random() < pal['long_sleeve_p']),
        bottom_colour=_sample_colour(rng, pal['bottom']),
        bottom_type=bottom_types[_pick(rng, [b[1] for b in bottom_types])][0],
        shoe_colour=_sample_colour(rng, pal['shoes']),
        backpack=None,
        bag=None,
        hat=None,
    )
    if rng.random() < 0.3:
        attrs['backpack'] = dict(colour=_sample_colour(rng, pal['accessory']))
    if rng.random() < 0.25:
        attrs['bag'] = dict(
            colour=_sample_colour(rng, pal['accessory']),
            side=('left', 'right')[int(rng.integers(2))])
    if rng.random() < 0.15:
        attrs['hat'] = dict(colour=_sample_colour(rng, pal['accessory']))
    return attrs


_DUP_CHANGES = ('bag', 'bottom_shade', 'top_shade', 'top_pattern', 'shoes',
                'hat', 'hair', 'bottom_type')


def _mutate_identity(rng: np.random.Generator, attrs: dict,
                     style: str) -> Tuple[dict, List[str]]:
    """Copy ``attrs`` and change exactly one or two attributes."""
    pal = _PALETTES[style]
    new = copy.deepcopy(attrs)
    n_change = 1 + int(rng.random() < 0.4)
    changes = [
        _DUP_CHANGES[i]
        for i in rng.choice(len(_DUP_CHANGES), n_change, replace=False)
    ]
    for change in changes:
        if change == 'bag':
            # Swap the carried bag: remove one, add one, or recolour one.
            if new['backpack'] is not None and rng.random() < 0.5:
                new['backpack'] = None
            elif new['bag'] is not None:
                if rng.random() < 0.5:
                    new['bag'] = None
                else:
                    new['bag']['colour'] = _distinct_colour(
                        rng, pal['accessory'], new['bag']['colour'])
            elif new['backpack'] is None and rng.random() < 0.5:
                new['backpack'] = dict(
                    colour=_sample_colour(rng, pal['accessory']))
            else:
                new['bag'] = dict(
                    colour=_sample_colour(rng, pal['accessory']),
                    side=('left', 'right')[int(rng.integers(2))])
        elif change == 'bottom_shade':
            new['bottom_colour'] = _shade_colour(rng, new['bottom_colour'])
        elif change == 'top_shade':
            new['top_colour'] = _shade_colour(rng, new['top_colour'])
        elif change == 'top_pattern':
            choices = [
                p for p in ('solid', 'hstripes', 'vtwotone', 'logo')
                if p != new['top_pattern']
            ]
            new['top_pattern'] = choices[int(rng.integers(len(choices)))]
        elif change == 'shoes':
            new['shoe_colour'] = _distinct_colour(rng, pal['shoes'],
                                                  new['shoe_colour'])
        elif change == 'hat':
            new['hat'] = None if new['hat'] is not None else dict(
                colour=_sample_colour(rng, pal['accessory']))
        elif change == 'hair':
            choices = [
                h for h in ('short', 'medium', 'long')
                if h != new['hair_length']
            ]
            new['hair_length'] = choices[int(rng.integers(len(choices)))]
        elif change == 'bottom_type':
            choices = [
                b for b in ('trousers', 'shorts', 'skirt')
                if b != new['bottom_type']
            ]
            new['bottom_type'] = choices[int(rng.integers(len(choices)))]
    return new, changes


class _IdentityBank:
    """Attributes of every pid of one split; order independent.

    Pid ``p`` of a split whose pids are ``first..last`` is a near duplicate
    when ``rng(seed, style, DUP, p)`` says so (and ``p > first``); its parent
    is then an earlier pid of the same split. All of this is a function of
    ``(seed, style, p)`` only.
    """

    def __init__(self, seed: int, style: str, first_pid: int, dup_frac: float):
        self.seed, self.style = seed, style
        self.first_pid, self.dup_frac = first_pid, dup_frac
        self._cache: Dict[int, Tuple[dict, Optional[int], List[str]]] = {}

    def get(self, pid: int) -> Tuple[dict, Optional[int], List[str]]:
        """Return ``(attrs, parent_pid or None, changed attribute names)``."""
        if pid in self._cache:
            return self._cache[pid]
        rng = _rng(self.seed, self.style, _P_DUPLICATE, pid)
        is_dup = rng.random() < self.dup_frac and pid > self.first_pid
        if is_dup:
            parent = int(rng.integers(self.first_pid, pid))
            attrs, changes = _mutate_identity(rng,
                                              self.get(parent)[0], self.style)
            out = (attrs, parent, changes)
        else:
            attrs = sample_identity(
                _rng(self.seed, self.style, _P_IDENTITY, pid), self.style)
            out = (attrs, None, [])
        self._cache[pid] = out
        return out


# ---------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------
# Fixed per style; only the background clutter depends on the seed.
# views: probabilities of (front, back, side); bg: (wall top, wall bottom,
# floor) colours; clutter: what is drawn on the wall.
_CAMERAS = {
    'market': [
        dict(
            name='plaza',
            render=(128, 64),
            gain=1.10,
            cast=(1.05, 1.00, 0.90),
            blur=0.3,
            noise=2.0,
            jpeg=92,
            views=(0.5, 0.3, 0.2),
            traffic=1.2,
            bg=((200, 205, 210), (170, 172, 168), (150, 146, 138)),
            clutter='windows'),
        dict(
            name='walkway',
            render=(96, 48),
            gain=0.95,
            cast=(0.92, 1.06, 0.94),
            blur=0.6,
            noise=3.0,
            jpeg=88,
            views=(0.2, 0.5, 0.3),
            traffic=1.0,
            bg=((110, 150, 90), (80, 120, 70), (160, 150, 130)),
            clutter='bushes'),
        dict(
            name='shade',
            render=(80, 40),
            gain=0.78,
            cast=(0.92, 0.98, 1.10),
            blur=0.5,
            noise=4.0,
            jpeg=85,
            views=(0.35, 0.35, 0.3),
            traffic=1.0,
            bg=((120, 118, 125), (95, 95, 100), (115, 110, 105)),
            clutter='poles'),
        dict(
            name='sunny',
            render=(128, 64),
            gain=1.18,
            cast=(1.08, 1.02, 0.88),
            blur=0.2,
            noise=2.0,
            jpeg=90,
            views=(0.25, 0.25, 0.5),
            traffic=0.9,
            bg=((225, 215, 190), (200, 185, 160), (190, 180, 165)),
            clutter='bricks'),
        dict(
            name='far',
            render=(64, 32),
            gain=1.0,
            cast=(1.0, 1.0, 1.0),
            blur=0.7,
            noise=3.0,
            jpeg=80,
            views=(0.4, 0.4, 0.2),
            traffic=0.8,
            bg=((150, 170, 185), (135, 140, 140), (105, 105, 100)),
            clutter='bushes'),
        dict(
            name='gate',
            render=(112, 56),
            gain=0.9,
            cast=(1.10, 0.95, 0.93),
            blur=0.4,
            noise=5.0,
            jpeg=85,
            views=(0.3, 0.2, 0.5),
            traffic=0.8,
            bg=((160, 100, 85), (140, 90, 75), (125, 120, 115)),
            clutter='bricks'),
    ],
    'other': [
        dict(
            name='snowpath',
            render=(96, 48),
            gain=0.85,
            cast=(0.90, 0.98, 1.15),
            blur=0.5,
            noise=4.0,
            jpeg=85,
            views=(0.4, 0.4, 0.2),
            traffic=1.2,
            bg=((175, 180, 190), (150, 155, 165), (215, 218, 225)),
            clutter='poles'),
        dict(
            name='hall',
            render=(64, 32),
            gain=0.70,
            cast=(0.95, 0.95, 1.10),
            blur=0.8,
            noise=5.0,
            jpeg=78,
            views=(0.3, 0.5, 0.2),
            traffic=1.0,
            bg=((90, 90, 100), (70, 72, 80), (100, 98, 95)),
            clutter='windows'),
        dict(
            name='brick',
            render=(80, 40),
            gain=0.65,
            cast=(1.0, 0.95, 1.05),
            blur=0.6,
            noise=5.0,
            jpeg=82,
            views=(0.25, 0.3, 0.45),
            traffic=1.0,
            bg=((120, 75, 65), (100, 65, 58), (85, 85, 88)),
            clutter='bricks'),
        dict(
            name='road',
            render=(112, 56),
            gain=0.80,
            cast=(0.88, 0.95, 1.18),
            blur=0.4,
            noise=4.0,
            jpeg=86,
            views=(0.5, 0.2, 0.3),
            traffic=1.1,
            bg=((130, 140, 155), (110, 115, 125), (75, 75, 80)),
            clutter='poles'),
        dict(
            name='night',
            render=(56, 28),
            gain=0.62,
            cast=(1.05, 0.95, 1.10),
            blur=0.9,
            noise=6.0,
            jpeg=75,
            views=(0.35, 0.35, 0.3),
            traffic=0.7,
            bg=((55, 60, 75), (45, 48, 60), (60, 58, 62)),
            clutter='windows'),
        dict(
            name='lobby',
            render=(128, 64),
            gain=0.90,
            cast=(1.02, 1.0, 1.02),
            blur=0.3,
            noise=3.0,
            jpeg=90,
            views=(0.2, 0.3, 0.5),
            traffic=0.9,
            bg=((165, 160, 150), (140, 135, 125), (120, 110, 100)),
            clutter='windows'),
        dict(
            name='trees',
            render=(72, 36),
            gain=0.75,
            cast=(0.92, 1.05, 1.08),
            blur=0.7,
            noise=5.0,
            jpeg=80,
            views=(0.3, 0.4, 0.3),
            traffic=0.8,
            bg=((70, 85, 75), (60, 72, 65), (150, 152, 158)),
            clutter='bushes'),
        dict(
            name='parking',
            render=(88, 44),
            gain=0.68,
            cast=(0.85, 0.92, 1.22),
            blur=0.5,
            noise=5.0,
            jpeg=84,
            views=(0.4, 0.3, 0.3),
            traffic=0.8,
            bg=((105, 110, 120), (95, 98, 105), (70, 70, 72)),
            clutter='poles'),
    ],
}

_BG_W = 320  # width of the per-camera background panorama (full units)


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  cells: Tuple[int, int]) -> np.ndarray:
    """Low-frequency noise in [-1, 1] of shape (h, w)."""
    grid = rng.uniform(-1, 1, size=cells).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _draw_clutter(img: np.ndarray, rng: np.random.Generator, kind: str,
                  x0: int, x1: int, horizon: int, wall: np.ndarray) -> None:
    """Draw one kind of background clutter into columns ``x0:x1``."""
    h = img.shape[0]
    seg = img[:, x0:x1]
    w = x1 - x0
    if kind == 'windows':
        ww, wh = int(rng.integers(12, 22)), int(rng.integers(12, 24))
        gap = int(rng.integers(6, 14))
        y0 = int(rng.integers(4, 18))
        colour = wall * rng.uniform(0.4, 0.7) * np.array([0.9, 1.0, 1.15],
                                                         np.float32)
        for row in range(3):
            yt = y0 + row * (wh + gap)
            if yt + wh > horizon - 4:
                break
            for xl in range(int(rng.integers(0, gap)), w, ww + gap):
                lit = rng.uniform(0.8, 1.5) if rng.random() < 0.3 else 1.0
                seg[yt:yt + wh, xl:xl + ww] = colour * lit
                seg[yt:yt + wh, xl + ww // 2:xl + ww // 2 + 1] *= 0.7
    elif kind == 'bricks':
        bh = int(rng.integers(5, 8))
        bw = int(rng.integers(12, 18))
        xs = np.arange(w)
        for y in range(0, horizon, bh):
            seg[y:y + 1, :] *= 0.8
            seg[y:min(y + bh, horizon)] *= rng.uniform(0.94, 1.06)
            off = (y // bh % 2) * (bw // 2)
            seg[y:min(y + bh, horizon), (xs + off) % bw == 0] *= 0.82
    elif kind == 'bushes':
        yy, xx = np.ogrid[:h, :w]
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.uniform(0, w), rng.uniform(horizon * 0.45, horizon)
            rx, ry = rng.uniform(8, 22), rng.uniform(7, 16)
            m = ((xx - cx) / rx)**2 + ((yy - cy) / ry)**2 < 1
            seg[m] = np.array(
                _hsv(
                    rng.uniform(80, 140), rng.uniform(0.35, 0.7),
                    rng.uniform(0.2, 0.5)), np.float32) / 255
    elif kind == 'poles':
        for xl in rng.choice(max(w - 4, 1), int(rng.integers(1, 3))):
            pw = int(rng.integers(2, 5))
            seg[:horizon + int(rng.integers(2, 10)),
                xl:xl + pw] *= rng.uniform(0.3, 0.6)
    elif kind == 'door':
        dw = min(int(rng.integers(16, 26)), w)
        xl = int(rng.integers(0, max(w - dw, 1)))
        top = int(horizon * rng.uniform(0.25, 0.45))
        colour = np.array(
            _hsv(
                rng.uniform(0, 360), rng.uniform(0.1, 0.5),
                rng.uniform(0.15, 0.6)), np.float32) / 255
        seg[top:horizon, xl:xl + dw] = colour
        seg[top:horizon, xl + dw // 2:xl + dw // 2 + 1] *= 0.6
    elif kind == 'sign':
        sw, sh = int(rng.integers(8, 18)), int(rng.integers(6, 12))
        xl = int(rng.integers(0, max(w - sw, 1)))
        yt = int(rng.integers(4, max(horizon // 2, 5)))
        seg[yt:yt + sh, xl:xl + sw] = np.array(
            _hsv(
                rng.uniform(0, 360), rng.uniform(0.5, 0.9),
                rng.uniform(0.5, 0.95)), np.float32) / 255


def _camera_background(seed: int, style: str, cam: int) -> np.ndarray:
    """A (128, _BG_W, 3) float32 background panorama in [0, 1].

    The panorama is split into a few segments along x with their own wall
    shade and clutter (mostly the camera's own clutter kind), so the crops of
    one camera share a look but still vary.
    """
    spec = _CAMERAS[style][cam]
    rng = _rng(seed, style, _P_CAMERA, cam)
    h, w = IMG_H, _BG_W
    top, bottom, floor = (np.array(c, np.float32) / 255 for c in spec['bg'])
    yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None, None] / h
    horizon = int(h * rng.uniform(0.62, 0.75))
    img = np.empty((h, w, 3), np.float32)
    # Floor with a perspective gradient.
    fy = (np.arange(h - horizon, dtype=np.float32) + 0.5) / (h - horizon)
    img[horizon:] = floor * (0.85 + 0.25 * fy)[:, None, None]
    img[horizon:horizon + 1] *= 0.75
    # Wall / scenery segments.
    cuts = np.sort(
        rng.choice(
            np.arange(40, w - 40), int(rng.integers(3, 6)), replace=False))
    edges = [0]
    for c in cuts:  # keep segments at least 24 px wide
        if c - edges[-1] >= 24:
            edges.append(int(c))
    edges.append(w)
    kinds = (spec['clutter'], 'windows', 'bricks', 'bushes', 'poles', 'door',
             'sign')
    for x0, x1 in zip(edges[:-1], edges[1:]):
        jitter = rng.uniform(0.8, 1.2) * rng.uniform(0.92, 1.08, size=3)
        t_c, b_c = top * jitter, bottom * jitter
        img[:horizon,
            x0:x1] = t_c + (b_c - t_c) * np.clip(yy[:horizon] /
                                                 (horizon / h), 0, 1)
        kind = kinds[_pick(rng, [0.55, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1])]
        _draw_clutter(img, rng, kind, x0, x1, horizon,
                      (t_c + b_c).astype(np.float32) / 2)
    # Texture: low-frequency blotches + fine grain.
    tex = 0.07 * _smooth_noise(rng, h, w, (6, 16)) + 0.03 * _smooth_noise(
        rng, h, w, (32, 80))
    img = img * (1 + tex[..., None])
    return np.clip(img, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------
class _Canvas:
    """Anti-aliased painter on a (h, w) grid whose coordinates are given in
    full-resolution (128x64) units, so the same person description can be
    drawn at any render resolution."""

    def __init__(self, img: np.ndarray):
        self.img = img
        self.h, self.w = img.shape[:2]
        self.s = IMG_H / self.h  # full-res units per render pixel

    def _window(self, x0, y0, x1, y1):
        s = self.s
        r0 = max(int(np.floor(y0 / s - 1)), 0)
        r1 = min(int(np.ceil(y1 / s + 1)), self.h)
        c0 = max(int(np.floor(x0 / s - 1)), 0)
        c1 = min(int(np.ceil(x1 / s + 1)), self.w)
        if r0 >= r1 or c0 >= c1:
            return None
        v = ((np.arange(r0, r1, dtype=np.float32) + 0.5) * s)[:, None]
        u = ((np.arange(c0, c1, dtype=np.float32) + 0.5) * s)[None, :]
        return (slice(r0, r1), slice(c0, c1)), u, v

    def _blend(self, win, alpha, colour, shade):
        sl = win[0]
        if callable(colour):
            colour = colour(win[1], win[2])
        colour = np.asarray(colour, np.float32)
        if shade is not None:
            colour = colour * shade[..., None]
        patch = self.img[sl]  # a view: updated in place
        patch += (colour - patch) * alpha[..., None]

    def _alpha(self, d):
        a = 0.5 - d * (1.0 / self.s)
        np.maximum(a, 0.0, out=a)
        return np.minimum(a, 1.0, out=a)

    def ellipse(self, cx, cy, rx, ry, colour, shade=0.15, clip=None):
        win = self._window(cx - rx, cy - ry, cx + rx, cy + ry)
        if win is None:
            return
        _, u, v = win
        r = np.sqrt(((u - cx) / rx)**2 + ((v - cy) / ry)**2)
        alpha = self._alpha((r - 1) * min(rx, ry))
        if clip is not None:  # keep only one side: clip = (axis, sign, pos)
            axis, sign, pos = clip
            coord = u if axis == 'x' else v
            alpha = alpha * self._alpha(sign * (pos - coord))
        self._blend(win, alpha, colour, 1 - shade * np.minimum(r, 1)**2)

    def capsule(self, x0, y0, x1, y1, r0, r1, colour, shade=0.3):
        """A limb: segment from (x0, y0) to (x1, y1), radius r0 -> r1."""
        rm = max(r0, r1)
        win = self._window(
            min(x0, x1) - rm,
            min(y0, y1) - rm,
            max(x0, x1) + rm,
            max(y0, y1) + rm)
        if win is None:
            return
        _, u, v = win
        vx, vy = x1 - x0, y1 - y0
        t = ((u - x0) * vx + (v - y0) * vy) * (1.0 / (vx * vx + vy * vy))
        t = np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
        dist = np.sqrt((u - x0 - t * vx)**2 + (v - y0 - t * vy)**2)
        r = r0 + t * (r1 - r0)
        alpha = self._alpha(dist - r)
        self._blend(win, alpha, colour, 1 - shade * np.minimum(dist / r, 1)**2)

    def trapezoid(self, cx, y0, y1, hw0, hw1, colour, shade=0.25):
        """Horizontal trapezoid: half width hw0 at y0, hw1 at y1."""
        hw = max(hw0, hw1)
        win = self._window(cx - hw, y0, cx + hw, y1)
        if win is None:
            return
        _, u, v = win
        t = np.minimum(np.maximum((v - y0) / (y1 - y0), 0.0), 1.0)
        half = hw0 + t * (hw1 - hw0)
        dx = np.abs(u - cx)
        d = np.maximum(np.maximum(y0 - v, v - y1), dx - half)
        self._blend(win, self._alpha(d), colour,
                    1 - shade * np.minimum(dx / half, 1)**2)

    def rect(self, x0, y0, x1, y1, colour, shade=None):
        win = self._window(x0, y0, x1, y1)
        if win is None:
            return
        _, u, v = win
        d = np.maximum(np.maximum(x0 - u, u - x1), np.maximum(y0 - v, v - y1))
        sh = None
        if shade:
            cx, hw = (x0 + x1) / 2, (x1 - x0) / 2
            sh = 1 - shade * np.minimum(np.abs(u - cx) / hw, 1)**2
        self._blend(win, self._alpha(d), colour, sh)

    def line(self, x0, y0, x1, y1, width, colour):
        self.capsule(x0, y0, x1, y1, width / 2, width / 2, colour, shade=0.0)


def _f(colour) -> np.ndarray:
    return np.asarray(colour, np.float32) / 255.0


def _draw_person(cv: _Canvas, attrs: dict, view: str, facing: int, cx: float,
                 foot_y: float, scale: float, stride: float,
                 arm_swing: float) -> None:
    """Draw one person.

    Args:
        view: 'front', 'back' or 'side'.
        facing: +1 / -1, the image direction a side view faces.
        cx, foot_y: horizontal centre and sole height (full-res units).
        scale: multiplies the person's height.
        stride: in [-1, 1], leg spread / walking phase.
        arm_swing: in [-1, 1].
    """
    H = 112.0 * attrs['height'] * scale
    top = foot_y - H
    ws = attrs['width']
    side = view == 'side'
    narrow = 0.62 if side else 1.0
    skin, hair = _f(attrs['skin']), _f(attrs['hair_colour'])
    top_c, top_c2 = _f(attrs['top_colour']), _f(attrs['top_colour2'])
    bottom_c, shoe_c = _f(attrs['bottom_colour']), _f(attrs['shoe_colour'])

    sh_y = top + 0.165 * H  # shoulder line
    waist_y = top + 0.50 * H
    hip_y = top + 0.53 * H
    ankle_y = foot_y - 0.035 * H
    sh_hw = 0.14 * H * ws * narrow
    hip_hw = 0.105 * H * ws * narrow
    head_cy, head_ry = top + 0.068 * H, 0.068 * H
    head_rx = 0.052 * H * (1.05 if side else 1.0)

    # Which image side the person's right side is on (front view: image
    # left), used by the bag and the two-tone top.
    if view == 'front':
        right_sign = -1
    elif view == 'back':
        right_sign = 1
    else:
        right_sign = 0

    # --- legs -------------------------------------------------------------
    leg_r0, leg_r1 = 0.05 * H * ws, 0.03 * H
    # (hip x, ankle x) of the two legs
    if side:
        step = 0.13 * H * stride
        legs = [(cx - 0.01 * H * facing, cx - step),
                (cx + 0.01 * H * facing, cx + step)]
    else:
        spread = 0.02 * H + 0.035 * H * abs(stride)
        off = 0.052 * H * ws
        legs = [(cx - off, cx - off - spread * 0.5 - 0.01 * H),
                (cx + off, cx + off + spread * 0.5 + 0.01 * H)]
    btype = attrs['bottom_type']
    for lx0, lx1 in legs:
        if btype == 'trousers':
            cv.capsule(lx0, hip_y, lx1, ankle_y, leg_r0, leg_r1, bottom_c)
        else:
            cv.capsule(lx0, hip_y, lx1, ankle_y, leg_r0 * 0.8, leg_r1 * 0.9,
                       skin)
            if btype == 'shorts':
                t = 0.38
                cv.capsule(lx0, hip_y, lx0 + t * (lx1 - lx0),
                           hip_y + t * (ankle_y - hip_y), leg_r0 * 1.1,
                           leg_r0 * 1.0, bottom_c)
        # shoe
        toe = facing * 0.02 * H if side else 0.0
        cv.ellipse(
            lx1 + toe,
            ankle_y + 0.012 * H,
            0.038 * H,
            0.022 * H,
            shoe_c,
            shade=0.3)
    # pelvis / skirt
    if btype == 'skirt':
        cv.trapezoid(cx, waist_y - 0.01 * H, top + 0.73 * H, hip_hw * 1.05,
                     hip_hw * 1.6, bottom_c)
    else:
        cv.trapezoid(cx, waist_y - 0.01 * H, hip_y + 0.05 * H, hip_hw * 1.05,
                     hip_hw * 1.12, bottom_c)

    # --- accessories behind the body --------------------------------------
    bag = attrs['bag']
    bag_front = True
    if bag is not None:
        bag_c = _f(bag['colour'])
        person_right = bag['side'] == 'right'
        if side:
            # Facing right (+1) the camera sees the person's left side.
            visible_side_right = facing < 0
            bag_front = person_right == visible_side_right
            bag_x = cx + (0.0 if bag_front else -facing * 0.06 * H)
        else:
            sgn = right_sign if person_right else -right_sign
            bag_x = cx + sgn * (sh_hw + 0.03 * H)
        bag_y = hip_y - 0.02 * H
        if not bag_front:
            cv.rect(bag_x - 0.05 * H, bag_y - 0.05 * H, bag_x + 0.05 * H,
                    bag_y + 0.05 * H, bag_c * 0.8)
    backpack = attrs['backpack']
    if backpack is not None and side:
        bp_c = _f(backpack['colour'])
        bx = cx - facing * (sh_hw + 0.045 * H)
        cv.rect(
            bx - 0.055 * H,
            sh_y + 0.01 * H,
            bx + 0.055 * H,
            sh_y + 0.27 * H,
            bp_c,
            shade=0.3)

    # --- arm behind the torso (side view) ---------------------------------
    # Side views of a two-tone top show the half facing the camera (the
    # person's right half when facing left); front/back arms are coloured
    # per side below.
    sleeve_c = top_c
    if attrs['top_pattern'] == 'vtwotone' and side and facing > 0:
        sleeve_c = top_c2

    def draw_arm(x_sh, x_hand, colour, dark=1.0):
        y0, y1 = sh_y + 0.025 * H, top + 0.50 * H
        r0, r1 = 0.037 * H * ws, 0.026 * H
        if attrs['long_sleeves']:
            cv.capsule(x_sh, y0, x_hand, y1, r0, r1, colour * dark)
        else:
            cv.capsule(x_sh, y0, x_hand, y1, r0 * 0.8, r1, skin * dark)
            t = 0.35
            cv.capsule(x_sh, y0, x_sh + t * (x_hand - x_sh),
                       y0 + t * (y1 - y0), r0 * 1.1, r0 * 1.0, colour * dark)
        cv.ellipse(x_hand, y1 + 0.022 * H, 0.022 * H, 0.028 * H, skin * dark)

    if side:
        swing = 0.09 * H * arm_swing
        draw_arm(cx, cx + swing, sleeve_c, dark=0.8)

    # --- torso -------------------------------------------------------------
    period = attrs['stripe_period'] * H
    pattern = attrs['top_pattern']

    def top_colour(u, v):
        if pattern == 'hstripes':
            band = np.floor((v - sh_y) / period).astype(np.int32) % 2 == 0
            return np.where(band[..., None], top_c, top_c2)
        if pattern == 'vtwotone':
            if side:
                return top_c if facing < 0 else top_c2
            right = (u - cx) * right_sign > 0  # person's right half
            right = np.broadcast_to(right, np.broadcast(u, v).shape)
            return np.where(right[..., None], top_c, top_c2)
        return top_c

    t_y1 = waist_y + 0.025 * H
    cv.trapezoid(cx, sh_y, t_y1, sh_hw, hip_hw * 1.08, top_colour)
    cv.capsule(
        cx - sh_hw + 0.035 * H,
        sh_y + 0.03 * H,
        cx + sh_hw - 0.035 * H,
        sh_y + 0.03 * H,
        0.04 * H,
        0.04 * H,
        top_colour,
        shade=0.1)
    if pattern == 'logo' and view != 'back':
        lx = cx + (facing * sh_hw * 0.35 if side else 0.0)
        lw = 0.032 * H * (0.6 if side else 1.0)
        cv.rect(lx - lw, sh_y + 0.07 * H, lx + lw, sh_y + 0.14 * H, top_c2)

    # straps
    if backpack is not None and view == 'front':
        strap = _f(backpack['colour']) * 0.85
        for sgn in (-1, 1):
            cv.line(cx + sgn * sh_hw * 0.55, sh_y, cx + sgn * sh_hw * 0.6,
                    sh_y + 0.17 * H, 0.022 * H, strap)
    if bag is not None and bag_front and not side:
        cv.line(cx - (bag_x - cx) * 0.6, sh_y + 0.01 * H, bag_x,
                bag_y - 0.05 * H, 0.015 * H, bag_c * 0.9)
    elif bag is not None and bag_front and side:
        cv.line(cx - facing * 0.02 * H, sh_y, cx, bag_y - 0.05 * H, 0.015 * H,
                bag_c * 0.9)

    # --- arms --------------------------------------------------------------
    if side:
        draw_arm(cx, cx - 0.09 * H * arm_swing, sleeve_c)
    else:
        for sgn in (-1, 1):
            x_sh = cx + sgn * (sh_hw - 0.02 * H)
            x_hand = cx + sgn * (sh_hw + 0.015 * H + 0.01 * H * arm_swing)
            if pattern == 'vtwotone':
                colour = top_c if sgn * right_sign > 0 else top_c2
            else:
                colour = top_c
            draw_arm(x_sh, x_hand, colour)

    if bag is not None and bag_front:
        cv.rect(
            bag_x - 0.05 * H,
            bag_y - 0.05 * H,
            bag_x + 0.05 * H,
            bag_y + 0.055 * H,
            bag_c,
            shade=0.25)

    # --- head ----------------------------------------------------------------
    cv.rect(cx - 0.022 * H, head_cy + 0.04 * H, cx + 0.022 * H,
            sh_y + 0.01 * H, skin * 0.9)
    hlen = attrs['hair_length']
    hair_drop = {'short': 0.0, 'medium': 0.07, 'long': 0.2}[hlen] * H
    if view == 'back':
        if hair_drop > 0:
            cv.rect(
                cx - head_rx * 1.05,
                head_cy,
                cx + head_rx * 1.05,
                sh_y + hair_drop - 0.03 * H,
                hair,
                shade=0.3)
        cv.ellipse(cx, head_cy, head_rx, head_ry, hair, shade=0.25)
    elif view == 'front':
        if hair_drop > 0:
            for sgn in (-1, 1):
                cv.rect(cx + sgn * head_rx * 0.95 - 0.018 * H, head_cy,
                        cx + sgn * head_rx * 0.95 + 0.018 * H,
                        sh_y + hair_drop * 0.5, hair)
        cv.ellipse(cx, head_cy, head_rx, head_ry, skin, shade=0.2)
        # hair cap on the top of the head
        cv.ellipse(
            cx,
            head_cy - 0.02 * H,
            head_rx * 1.06,
            head_ry * 0.82,
            hair,
            clip=('y', -1, head_cy - 0.018 * H),
            shade=0.2)
        # eyes: a darker band
        cv.rect(cx - head_rx * 0.6, head_cy - 0.004 * H, cx + head_rx * 0.6,
                head_cy + 0.006 * H, skin * 0.7)
    else:
        if hair_drop > 0:
            hx = cx - facing * head_rx * 0.5
            cv.rect(hx - head_rx * 0.55, head_cy, hx + head_rx * 0.55,
                    sh_y + hair_drop * 0.8 - 0.03 * H, hair)
        cv.ellipse(cx, head_cy, head_rx, head_ry, skin, shade=0.2)
        # hair on the back half and the top
        cv.ellipse(
            cx,
            head_cy,
            head_rx * 1.04,
            head_ry * 1.04,
            hair,
            clip=('x', -facing, cx + facing * head_rx * 0.15),
            shade=0.2)
        cv.ellipse(
            cx,
            head_cy - 0.02 * H,
            head_rx * 1.05,
            head_ry * 0.82,
            hair,
            clip=('y', -1, head_cy - 0.02 * H),
            shade=0.2)
    if backpack is not None and view == 'back':
        bp_c = _f(backpack['colour'])
        bw = sh_hw * 0.75
        cv.rect(
            cx - bw,
            sh_y + 0.02 * H,
            cx + bw,
            sh_y + 0.3 * H,
            bp_c,
            shade=0.35)
        cv.rect(cx - bw * 0.7, sh_y + 0.18 * H, cx + bw * 0.7, sh_y + 0.27 * H,
                bp_c * 0.75)
    if attrs['hat'] is not None:
        hat_c = _f(attrs['hat']['colour'])
        cv.ellipse(
            cx,
            head_cy - 0.025 * H,
            head_rx * 1.12,
            head_ry * 0.85,
            hat_c,
            clip=('y', -1, head_cy - 0.022 * H),
            shade=0.2)
        if view == 'front':
            cv.rect(cx - head_rx * 1.15, head_cy - 0.03 * H,
                    cx + head_rx * 1.15, head_cy - 0.015 * H, hat_c * 0.8)
        elif side:
            bx0 = cx + facing * head_rx * 0.6
            cv.rect(
                min(bx0, bx0 + facing * 0.06 * H), head_cy - 0.03 * H,
                max(bx0, bx0 + facing * 0.06 * H), head_cy - 0.016 * H,
                hat_c * 0.8)


class _Renderer:
    """Draws crops for one ``(seed, style)``; caches camera backgrounds."""

    def __init__(self, seed: int, style: str):
        self.seed, self.style = seed, style
        self.cameras = _CAMERAS[style]
        self._bgs: Dict[int, np.ndarray] = {}

    def background(self, cam: int) -> np.ndarray:
        if cam not in self._bgs:
            self._bgs[cam] = _camera_background(self.seed, self.style, cam)
        return self._bgs[cam]

    def render(self,
               rng: np.random.Generator,
               cam: int,
               people: Sequence[dict],
               gain_jitter: float = 1.0,
               occlusion_p: float = 0.1) -> np.ndarray:
        """Render one crop seen by camera ``cam`` (0-based).

        ``people``: keyword dicts for :func:`_draw_person` (attrs, view,
        facing, cx, foot_y, scale, stride, arm_swing), drawn in order.
        Returns a (128, 64, 3) uint8 RGB array.
        """
        spec = self.cameras[cam]
        rh, rw = spec['render']
        pano = self.background(cam)
        x0 = int(rng.integers(0, _BG_W - IMG_W + 1))
        bg = pano[:, x0:x0 + IMG_W]
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        if (rh, rw) != (IMG_H, IMG_W):
            bg = cv2.resize(bg, (rw, rh), interpolation=cv2.INTER_AREA)
        canvas = _Canvas(np.ascontiguousarray(bg, dtype=np.float32))
        for person in people:
            _draw_person(canvas, **person)
        if rng.random() < occlusion_p:
            self._occlude(canvas, rng)
        img = canvas.img
        # Camera response: gain and colour cast, blur, resampling, noise.
        cast = np.asarray(spec['cast'], np.float32)
        img = img * (spec['gain'] * gain_jitter) * cast
        if spec['blur'] > 0:
            img = cv2.GaussianBlur(img, (0, 0), spec['blur'])
        if (rh, rw) != (IMG_H, IMG_W):
            img = cv2.resize(
                img, (IMG_W, IMG_H), interpolation=cv2.INTER_LINEAR)
        noise = rng.standard_normal(size=img.shape, dtype=np.float32)
        img = img * 255.0 + 0.5 + noise * np.float32(spec['noise'])
        np.clip(img, 0.0, 255.0, out=img)
        return img.astype(np.uint8)

    def _occlude(self, cv: _Canvas, rng: np.random.Generator):
        """A pole, a passer-by's arm or a bench in front of the person."""
        colour = _f(
            _hsv(
                rng.uniform(0, 360), rng.uniform(0, 0.4),
                rng.uniform(0.1, 0.7)))
        kind = int(rng.integers(3))
        if kind == 0:  # vertical pole
            x = rng.uniform(4, IMG_W - 4)
            w = rng.uniform(3, 7)
            cv.rect(x - w / 2, 0, x + w / 2, IMG_H, colour, shade=0.4)
        elif kind == 1:  # something low in front (bench, bike, car bonnet)
            y = rng.uniform(IMG_H * 0.72, IMG_H * 0.88)
            cv.rect(-2, y, IMG_W + 2, IMG_H + 2, colour, shade=0.1)
        else:  # the edge of another person at one side
            x = rng.choice([rng.uniform(-6, 6), rng.uniform(58, 70)])
            cv.rect(
                x - 8,
                rng.uniform(20, 50),
                x + 8,
                IMG_H + 2,
                colour,
                shade=0.4)


# ---------------------------------------------------------------------------
# Layout: who is seen by which camera, and file names
# ---------------------------------------------------------------------------
def _sample_view(rng: np.random.Generator, probs) -> Tuple[str, int]:
    view = _VIEWS[_pick(rng, probs)]
    facing = 1 if rng.random() < 0.5 else -1
    return view, facing


class _Track:
    """All images of one identity in one camera (a short tracklet)."""

    def __init__(self, seed, style, pid, cam, spec):
        rng = _rng(seed, style, _P_TRACK, pid, cam)
        self.seq = int(rng.integers(1, 7))
        self.frame0 = int(rng.integers(100, 90000)) * 10
        self.step = int(rng.integers(4, 30))
        self.view, self.facing = _sample_view(rng, spec['views'])
        self.gain = float(rng.uniform(0.92, 1.08))
        self.cx = float(rng.uniform(30, 34))
        self.scale = float(rng.uniform(0.95, 1.03))
        self.phase = float(rng.uniform(0, 2 * np.pi))

    def image(self, rng: np.random.Generator, attrs: dict, spec: dict,
              k: int) -> Tuple[dict, float]:
        """Person arguments and gain jitter for the ``k``-th image."""
        view, facing = self.view, self.facing
        if rng.random() < 0.2:  # the person turns around / away
            view, facing = _sample_view(rng, spec['views'])
        phase = self.phase + 1.3 * k + rng.uniform(-0.3, 0.3)
        person = dict(
            attrs=attrs,
            view=view,
            facing=facing,
            cx=self.cx + rng.uniform(-2.5, 2.5),
            foot_y=IMG_H - 4 + rng.uniform(-3, 3),
            scale=self.scale * rng.uniform(0.95, 1.05),
            stride=float(np.sin(phase)),
            arm_swing=float(np.sin(phase + np.pi)))
        return person, self.gain * rng.uniform(0.96, 1.04)

    def name(self, pid: int, cam: int, k: int) -> str:
        return _file_name(pid, cam, self.seq, self.frame0 + k * self.step, 1)


def _file_name(pid: int, cam: int, seq: int, frame: int, bbox: int) -> str:
    """Market-1501 name; ``cam`` is 0-based here and 1-based in the name."""
    pid_str = '-1' if pid < 0 else f'{pid:04d}'
    return f'{pid_str}_c{cam + 1}s{seq}_{frame:06d}_{bbox:02d}.jpg'


def _camera_subset(rng: np.random.Generator, style: str,
                   lo_hi: Tuple[int, int]) -> List[int]:
    cams = _CAMERAS[style]
    n = int(rng.integers(lo_hi[0], lo_hi[1] + 1))
    n = max(2, min(n, len(cams)))
    traffic = np.array([c['traffic'] for c in cams], np.float64)
    chosen = rng.choice(len(cams), n, replace=False, p=traffic / traffic.sum())
    return sorted(int(c) for c in chosen)


def _plan(seed: int, style: str, spec: dict) -> Tuple[list, list]:
    """List every image to draw as ``(split folder, job)`` pairs.

    Also returns the near-duplicate records. A job is ``(kind, pid, camera,
    index)`` as understood by :func:`_render_job`.
    """
    n_train, n_test = spec['num_train_ids'], spec['num_test_ids']
    jobs = []
    dups = []
    train_bank = _IdentityBank(seed, style, 1, spec['near_duplicate_frac'])
    test_bank = _IdentityBank(seed, style, n_train + 1,
                              spec['near_duplicate_frac'])
    for pid in range(1, n_train + n_test + 1):
        is_train = pid <= n_train
        bank = train_bank if is_train else test_bank
        _, parent, changes = bank.get(pid)
        if parent is not None:
            dups.append(dict(pid=pid, parent=parent, changed=changes))
        rng = _rng(seed, style, _P_LAYOUT, pid)
        cams = _camera_subset(rng, style, spec['cams_per_id'])
        lo, hi = spec[
            'train_imgs_per_cam' if is_train else 'gallery_imgs_per_cam']
        counts = [int(rng.integers(lo, hi + 1)) for _ in cams]
        query_cams = set()
        if not is_train:
            n_q = min(spec['max_query_cams'], len(cams))
            query_cams = {int(c) for c in rng.choice(cams, n_q, replace=False)}
        for cam, count in zip(cams, counts):
            n_img = count + (1 if cam in query_cams else 0)
            for k in range(n_img):
                if is_train:
                    split = 'bounding_box_train'
                elif k == count:  # the extra image is the query
                    split = 'query'
                else:
                    split = 'bounding_box_test'
                jobs.append((split, ('person', pid, cam, k)))
    for k in range(spec['num_distractors']):
        jobs.append(('bounding_box_test', ('distractor', 0, -1, k)))
    for k in range(spec['num_junk']):
        jobs.append(('bounding_box_test', ('junk', -1, -1, k)))
    return jobs, dups


def _render_job(renderer: _Renderer, banks: dict, spec: dict,
                job: tuple) -> Tuple[str, np.ndarray]:
    """Draw one planned image; return ``(file name, uint8 image)``."""
    kind, pid, cam, k = job
    seed, style = renderer.seed, renderer.style
    cameras = _CAMERAS[style]
    if kind == 'person':
        bank = banks['train' if pid <= spec['num_train_ids'] else 'test']
        attrs = bank.get(pid)[0]
        track = _Track(seed, style, pid, cam, cameras[cam])
        rng = _rng(seed, style, _P_IMAGE, pid, cam, k)
        person, gain = track.image(rng, attrs, cameras[cam], k)
        img = renderer.render(rng, cam, [person], gain_jitter=gain)
        return track.name(pid, cam, k), img
    purpose = _P_DISTRACTOR if kind == 'distractor' else _P_JUNK
    rng = _rng(seed, style, purpose, k)
    cam = int(rng.integers(len(cameras)))
    seq = int(rng.integers(1, 7))
    frame = k * 97 + int(rng.integers(0, 97)) + 1
    attrs = sample_identity(rng, style)
    view, facing = _sample_view(rng, cameras[cam]['views'])
    person = dict(
        attrs=attrs,
        view=view,
        facing=facing,
        cx=32.0,
        foot_y=IMG_H - 4.0,
        scale=1.0,
        stride=float(rng.uniform(-1, 1)),
        arm_swing=float(rng.uniform(-1, 1)))
    if kind == 'distractor':
        mode = _pick(rng, [0.5, 0.3, 0.2])
        if mode == 1:  # badly aligned detection: part of a person
            person['cx'] = float(rng.uniform(8, 56))
            person['scale'] = float(rng.uniform(1.1, 1.6))
            person['foot_y'] = float(rng.uniform(IMG_H, IMG_H + 60))
            people = [person]
        elif mode == 2:  # background only
            people = []
        else:  # someone who is not part of the test set
            people = [person]
    else:  # junk: a fragment or a tiny, far away person
        if rng.random() < 0.5:
            person['scale'] = float(rng.uniform(1.8, 2.6))
            person['foot_y'] = float(rng.uniform(IMG_H + 60, IMG_H + 140))
            person['cx'] = float(rng.uniform(0, 64))
        else:
            person['scale'] = float(rng.uniform(0.3, 0.5))
            person['cx'] = float(rng.uniform(10, 54))
            person['foot_y'] = float(rng.uniform(40, IMG_H))
        people = [person]
    img = renderer.render(rng, cam, people, occlusion_p=0.3)
    return _file_name(pid, cam, seq, frame, int(rng.integers(1, 4))), img


def render_person_crop(attrs: dict,
                       cam: int = 0,
                       view: str = 'front',
                       style: str = 'market',
                       seed: int = 0,
                       image_seed: int = 0,
                       facing: int = 1) -> np.ndarray:
    """Render one crop of a person (for docs, notebooks and debugging).

    Args:
        attrs: identity attributes, e.g. from :func:`sample_identity`.
        cam: 0-based camera index of ``style``.
        view: 'front', 'back' or 'side'.
    Returns:
        (128, 64, 3) uint8 RGB image.
    """
    _check_choice('style', style, SYNTHETIC_STYLES)
    _check_choice('view', view, _VIEWS)
    renderer = _Renderer(seed, style)
    rng = np.random.default_rng([int(image_seed), 99])
    person = dict(
        attrs=attrs,
        view=view,
        facing=facing,
        cx=32.0,
        foot_y=IMG_H - 4.0,
        scale=1.0,
        stride=0.5,
        arm_swing=-0.5)
    return renderer.render(rng, cam, [person], occlusion_p=0.0)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
_SPLITS = ('bounding_box_train', 'query', 'bounding_box_test')


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'Unknown synthetic re-ID {name} {value!r}; valid '
                         f'choices: {", ".join(map(str, choices))}.')


def _save_jpeg(path: str, img: np.ndarray, quality: int) -> None:
    # Fixed encoder settings so the bytes only depend on the pixels.
    Image.fromarray(img).save(
        path, format='JPEG', quality=quality, subsampling=0, optimize=False)


def _statistics(records: List[Tuple[str, str]], num_cams: int) -> dict:
    stats = {}
    for split in _SPLITS:
        names = [n for s, n in records if s == split]
        pids = [int(n.split('_')[0]) for n in names]
        cams = [int(n.split('_')[1][1]) for n in names]
        real = {p for p in pids if p > 0}
        per_cam = [0] * num_cams
        for c in cams:
            per_cam[c - 1] += 1
        entry = dict(
            num_ids=len(real),
            num_images=len(names),
            images_per_camera=per_cam,
            pid_range=[min(real), max(real)] if real else None)
        if split == 'bounding_box_test':
            entry['num_distractors'] = sum(p == 0 for p in pids)
            entry['num_junk'] = sum(p == -1 for p in pids)
        stats[split] = entry
    return stats


class _JobRunner:
    """Renders planned jobs and writes them into ``out_dir`` (one per
    process; all state is a pure function of ``(seed, style, size)``)."""

    def __init__(self, seed: int, style: str, size: str, out_dir: str):
        spec = SYNTHETIC_SIZES[size]
        self.spec, self.out_dir = spec, out_dir
        self.cameras = _CAMERAS[style]
        self.renderer = _Renderer(seed, style)
        self.banks = dict(
            train=_IdentityBank(seed, style, 1, spec['near_duplicate_frac']),
            test=_IdentityBank(seed, style, spec['num_train_ids'] + 1,
                               spec['near_duplicate_frac']))

    def __call__(self, item: tuple) -> Tuple[str, str]:
        split, job = item
        name, img = _render_job(self.renderer, self.banks, self.spec, job)
        cam = int(name.split('_')[1][1]) - 1
        _save_jpeg(
            osp.join(self.out_dir, split, name), img,
            self.cameras[cam]['jpeg'])
        return split, name


_WORKER_RUNNER: Optional[_JobRunner] = None


def _worker_init(seed: int, style: str, size: str, out_dir: str) -> None:
    global _WORKER_RUNNER
    cv2.setNumThreads(1)
    _WORKER_RUNNER = _JobRunner(seed, style, size, out_dir)


def _worker_run(item: tuple) -> Tuple[str, str]:
    return _WORKER_RUNNER(item)


def _auto_workers(num_jobs: int) -> int:
    """Worker processes to use when the caller did not say."""
    if num_jobs < 2000 or mp.current_process().daemon:
        return 0  # small jobs, or a daemonic process that cannot fork
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return min(cpus, 8) if cpus > 1 else 0


def _run_jobs(jobs: list, seed: int, style: str, size: str, out_dir: str,
              num_workers: int):
    """Yield ``(split, name)`` for every job, in job order."""
    if num_workers > 1:
        method = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'
        try:
            pool = mp.get_context(method).Pool(
                num_workers,
                initializer=_worker_init,
                initargs=(seed, style, size, out_dir))
        except (OSError, AssertionError, ValueError) as e:
            print_log(
                f'Could not start worker processes ({e!r}); generating in '
                'this process.',
                logger='current')
        else:
            with pool:
                yield from pool.imap(_worker_run, jobs, chunksize=32)
            return
    runner = _JobRunner(seed, style, size, out_dir)
    for item in jobs:
        yield runner(item)


def _load_existing(meta_path: str, size: str, style: str, seed: int) -> dict:
    """Read the ``meta.json`` of a finished folder, checking it matches."""
    with open(meta_path) as f:
        meta = json.load(f)
    params = meta.get('params', {})
    found = (meta.get('generator_version'), params.get('size'),
             params.get('style'), params.get('seed'))
    wanted = (GENERATOR_VERSION, size, style, seed)
    if found != wanted:
        raise FileExistsError(
            f'{osp.dirname(meta_path)} already holds a synthetic data set '
            f'with (version, size, style, seed) = {found}, not {wanted}.')
    return meta


def generate_synthetic_reid(out_dir: str,
                            size: str = 'default',
                            style: str = 'market',
                            seed: int = 0,
                            num_workers: Optional[int] = None) -> dict:
    """Generate a synthetic re-ID data set in the Market-1501 layout.

    Writes ``bounding_box_train/``, ``query/``, ``bounding_box_test/`` and
    ``meta.json`` into ``out_dir``. File names follow Market-1501:
    ``{pid:04d}_c{cam}s{seq}_{frame:06d}_{bbox:02d}.jpg``, with pid ``0``
    for gallery distractors and ``-1`` for junk images. Train pids are
    ``1..num_train_ids`` and test pids follow them; the two are disjoint.
    Every test identity has one query image in each of up to
    ``max_query_cams`` (2) of its cameras and gallery images in all its
    cameras (at least two), so every query has a gallery match in another
    camera.

    Everything is first written into a temporary sibling folder that is then
    renamed to ``out_dir`` in one step, so other processes never see a
    half-written data set. If ``out_dir`` already holds a finished data set
    (e.g. another process won the race), that one is kept.

    Args:
        out_dir: destination folder; must not exist or be empty.
        size: one of :data:`SYNTHETIC_SIZES` ('tiny', 'small', 'default').
        style: 'market' (6 cameras) or 'other' (8 cameras, darker and
            bluer), usable as two domains for domain adaptation.
        seed: random seed; the same ``(size, style, seed)`` always gives
            byte-identical images.
        num_workers: worker processes used to draw the images; ``None``
            picks one per available CPU core (at most 8) for data sets of
            2000 images or more and none otherwise; ``0`` draws everything in
            this process. The output does not depend on it.

    Returns:
        dict: the content of ``meta.json``.
    """
    _check_choice('size', size, tuple(SYNTHETIC_SIZES))
    _check_choice('style', style, SYNTHETIC_STYLES)
    seed = int(seed)
    if seed < 0:
        raise ValueError(f'seed must be non-negative, got {seed}.')
    spec = SYNTHETIC_SIZES[size]
    out_dir = osp.abspath(osp.expanduser(out_dir))
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.isfile(meta_path):
        return _load_existing(meta_path, size, style, seed)
    if osp.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(
            f'{out_dir} exists, is not empty and holds no meta.json.')
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = osp.join(
        parent, f'.{osp.basename(out_dir)}.tmp-{os.getpid()}-'
        f'{uuid.uuid4().hex[:8]}')
    start = time.perf_counter()
    try:
        for split in _SPLITS:
            os.makedirs(osp.join(tmp_dir, split))
        jobs, dups = _plan(seed, style, spec)
        cameras = _CAMERAS[style]
        if num_workers is None:
            num_workers = _auto_workers(len(jobs))
        print_log(
            f'Generating synthetic re-ID data (size={size}, style={style}, '
            f'seed={seed}, {len(jobs)} images, {num_workers} worker '
            f'processes) in {out_dir} ...',
            logger='current')
        records = []
        log_every = max(1, len(jobs) // 5)
        for i, record in enumerate(
                _run_jobs(jobs, seed, style, size, tmp_dir, int(num_workers))):
            records.append(record)
            if (i + 1) % log_every == 0 and i + 1 < len(jobs):
                print_log(
                    f'  synthetic re-ID: {i + 1}/{len(jobs)} images '
                    f'({time.perf_counter() - start:.1f} s)',
                    logger='current')
        if len({name for _, name in records}) != len(records):
            # Cannot happen by construction (see ``_Track``); be loud.
            raise RuntimeError('duplicate synthetic re-ID file names')
        meta = dict(
            generator='reidkit.datasets.synthetic',
            generator_version=GENERATOR_VERSION,
            params=dict(size=size, style=style, seed=seed, spec=spec),
            image_size=[IMG_H, IMG_W],
            num_cameras=len(cameras),
            cameras=[
                dict(
                    id=i + 1,
                    name=c['name'],
                    render_size=list(c['render']),
                    gain=c['gain'],
                    colour_cast=list(c['cast']),
                    blur_sigma=c['blur'],
                    noise_std=c['noise'],
                    jpeg_quality=c['jpeg'],
                    view_mix=dict(zip(_VIEWS, c['views'])))
                for i, c in enumerate(cameras)
            ],
            splits=_statistics(records, len(cameras)),
            near_duplicates=dups,
        )
        # Round trip so the returned dict equals the file (lists, not tuples).
        meta = json.loads(json.dumps(meta))
        with open(osp.join(tmp_dir, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        try:
            if osp.isdir(out_dir) and not os.listdir(out_dir):
                os.rmdir(out_dir)  # an empty placeholder (e.g. tmp_path)
            os.rename(tmp_dir, out_dir)
        except OSError:
            if not osp.isfile(meta_path):
                raise
            # Another process finished first: use its copy.
            print_log(
                f'{out_dir} was generated concurrently; using it.',
                logger='current')
            meta = _load_existing(meta_path, size, style, seed)
    finally:
        if osp.isdir(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    print_log(
        f'Synthetic re-ID data ready in {out_dir} '
        f'({len(jobs)} images, {time.perf_counter() - start:.1f} s).',
        logger='current')
    return meta


def default_cache_root() -> str:
    """``$REIDKIT_DATA_CACHE`` or ``~/.cache/reidkit``."""
    root = os.environ.get('REIDKIT_DATA_CACHE') or osp.join(
        '~', '.cache', 'reidkit')
    return osp.abspath(osp.expanduser(root))


def ensure_synthetic_reid(root: Optional[str] = None,
                          size: str = 'default',
                          style: str = 'market',
                          seed: int = 0,
                          num_workers: Optional[int] = None) -> str:
    """Return the folder of a cached synthetic data set, generating it once.

    The folder is ``{root}/synthetic/{style}_{size}_seed{seed}_v{version}``
    with ``root`` defaulting to ``$REIDKIT_DATA_CACHE`` or
    ``~/.cache/reidkit``. Safe to call from several processes at once (each
    generates into its own temporary folder; the first rename wins).
    ``size``, ``style``, ``seed`` and ``num_workers`` are as in
    :func:`generate_synthetic_reid`.
    """
    _check_choice('size', size, tuple(SYNTHETIC_SIZES))
    _check_choice('style', style, SYNTHETIC_STYLES)
    root = default_cache_root() if root is None else osp.abspath(
        osp.expanduser(root))
    folder = osp.join(root, 'synthetic',
                      f'{style}_{size}_seed{int(seed)}_v{GENERATOR_VERSION}')
    if not osp.isfile(osp.join(folder, 'meta.json')):
        generate_synthetic_reid(
            folder, size=size, style=style, seed=seed, num_workers=num_workers)
    return folder
