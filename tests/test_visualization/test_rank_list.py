"""Rank-list pictures: layout, outline colours, placeholders."""
import numpy as np
import pytest
from PIL import Image

from reidkit.visualization import (MATCH_COLOR, MISMATCH_COLOR,
                                   NEUTRAL_COLOR, QUERY_COLOR,
                                   draw_rank_list, rank_list_layout)


def make_image(path, size=(32, 64), color=(10, 120, 200)):
    Image.new('RGB', size, color).save(path)
    return str(path)


def border_pixel(img, box):
    """A pixel inside the outline (top edge, middle) of a cell."""
    x0, y0, x1, _ = box
    return img.getpixel(((x0 + x1) // 2, y0 + 1))


def test_outline_colours_and_size(tmp_path):
    query = make_image(tmp_path / 'q.png')
    gallery = [make_image(tmp_path / f'g{i}.png', color=(i * 40, 50, 50))
               for i in range(3)]
    out = tmp_path / 'sub' / 'list.png'
    img = draw_rank_list(query, gallery, distances=[0.1, 0.2, 0.3],
                         matches=[True, False, None], out_file=str(out))
    layout = rank_list_layout(3)
    assert img.size == layout['size']
    assert img.mode == 'RGB'
    assert Image.open(out).size == img.size  # saved as PNG
    assert border_pixel(img, layout['query_box']) == QUERY_COLOR
    colours = [border_pixel(img, b) for b in layout['gallery_boxes']]
    assert colours == [MATCH_COLOR, MISMATCH_COLOR, NEUTRAL_COLOR]
    # the thumbnail itself sits inside the outline
    x0, y0, x1, y1 = layout['gallery_boxes'][0]
    assert img.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == (0, 50, 50)
    # thumbnails are 64 x 128 inside a 4-pixel outline
    assert (x1 - x0, y1 - y0) == (64 + 8, 128 + 8)


def test_no_matches_gives_neutral_outlines(tmp_path):
    query = make_image(tmp_path / 'q.png')
    img = draw_rank_list(query, [query, query])
    layout = rank_list_layout(2)
    for box in layout['gallery_boxes']:
        assert border_pixel(img, box) == NEUTRAL_COLOR


def test_aspect_ratio_is_kept(tmp_path):
    # a square image in a 64x128 box: 64x64, letterboxed top and bottom
    query = make_image(tmp_path / 'q.png', size=(50, 50), color=(0, 0, 0))
    img = draw_rank_list(query, [])
    x0, y0, x1, y1 = rank_list_layout(0)['query_box']
    cx = (x0 + x1) // 2
    column = np.array([img.getpixel((cx, y)) for y in range(y0 + 4, y1 - 4)])
    dark = (column.sum(1) == 0).sum()
    assert dark == 64


def test_title_widens_picture(tmp_path):
    query = make_image(tmp_path / 'q.png')
    title = 'a fairly long query name.jpg   AP 100.0%' * 2
    img = draw_rank_list(query, [query], title=title)
    plain = rank_list_layout(1, title=True)
    assert img.size[1] == plain['size'][1]
    assert img.size[0] > plain['size'][0]
    # title text is drawn: some dark pixels in the title band
    band = np.asarray(img)[6:20]
    assert (band.sum(2) < 200).any()


def test_missing_gallery_image_is_a_placeholder(tmp_path):
    query = make_image(tmp_path / 'q.png')
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not an image')
    with pytest.warns(UserWarning, match='placeholder'):
        img = draw_rank_list(query, [str(tmp_path / 'gone.jpg'),
                                     str(broken)], matches=[False, True])
    layout = rank_list_layout(2)
    for box, colour in zip(layout['gallery_boxes'],
                           [MISMATCH_COLOR, MATCH_COLOR]):
        assert border_pixel(img, box) == colour
        x0, y0, x1, y1 = box
        # grey placeholder (off its diagonals)
        assert img.getpixel((x0 + 20, y0 + 8)) == (128, 128, 128)


def test_bad_arguments(tmp_path):
    query = make_image(tmp_path / 'q.png')
    with pytest.raises(ValueError, match='one per gallery image'):
        draw_rank_list(query, [query], distances=[0.1, 0.2])
    with pytest.raises(ValueError, match='thumb_size'):
        draw_rank_list(query, [query], thumb_size=(4, 4))
