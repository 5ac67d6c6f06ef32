from __future__ import annotations

import numpy as np

from pipeline.core.fill.regions import find_regions, pad_for_network, paste


def ownership(hole: np.ndarray, found) -> np.ndarray:
    count = np.zeros(hole.shape, dtype=int)
    for region in found:
        count[region.crop.slices] += region.owned
    return count


def test_every_hole_pixel_is_owned_exactly_once():
    rng = np.random.default_rng(0)
    hole = rng.random((300, 400)) > 0.995  # scattered specks
    hole[50:60, 20:380] = True  # a long stroke, tiled
    found = find_regions(hole, context=16, merge_gap=8, multiple=16, max_core=64)
    np.testing.assert_array_equal(ownership(hole, found), hole.astype(int))


def test_crops_are_network_multiples_inside_the_image():
    hole = np.zeros((100, 150), dtype=bool)
    hole[40:45, 60:70] = True
    (region,) = find_regions(hole, context=10, merge_gap=0, multiple=16)
    crop = region.crop
    assert crop.height % 16 == 0 and crop.width % 16 == 0
    assert 0 <= crop.top and crop.bottom <= 100 and 0 <= crop.left and crop.right <= 150
    assert crop.top <= 30 and crop.bottom >= 55  # the context is there


def test_crop_follows_the_mark_not_the_photo():
    hole = np.zeros((4000, 6000), dtype=bool)
    hole[3800:3850, 5500:5800] = True  # a small logo in a corner of a big photo
    found = find_regions(hole, context=32, merge_gap=16, multiple=16)
    area = sum(r.crop.height * r.crop.width for r in found)
    assert area < 100_000


def test_close_marks_merge_far_marks_do_not():
    hole = np.zeros((200, 400), dtype=bool)
    hole[50:60, 50:60] = True
    hole[50:60, 66:76] = True  # 6 px away: same region
    hole[50:60, 300:310] = True  # far away: its own region
    assert len(find_regions(hole, context=8, merge_gap=16, multiple=8)) == 2


def test_image_smaller_than_the_network_multiple_is_padded():
    hole = np.zeros((20, 30), dtype=bool)
    hole[5:10, 5:10] = True
    (region,) = find_regions(hole, context=4, merge_gap=0, multiple=32)
    assert (region.crop.height, region.crop.width) == (20, 30)
    # two multiples at least: the deepest level keeps 2 px (1 px breaks reflection padding)
    assert region.pad == (44, 34)
    padded = pad_for_network(np.zeros((3, 20, 30), np.float32), region.pad)
    assert padded.shape == (3, 64, 64)


def test_paste_writes_owned_pixels_only():
    pixels = np.zeros((50, 50, 3), np.uint8)
    hole = np.zeros((50, 50), dtype=bool)
    hole[20:25, 20:25] = True
    (region,) = find_regions(hole, context=5, merge_gap=0, multiple=8)
    paste(pixels, region, np.full((region.crop.height, region.crop.width, 3), 9, np.uint8))
    assert (pixels[hole] == 9).all() and (pixels[~hole] == 0).all()
