"""Holes too large for their crops: the deep inside is filled on a small copy first."""

from __future__ import annotations

import numpy as np
from conftest import sample_photo

from pipeline.core.fill.coarse import deep_inside
from pipeline.core.fill.restore import restore
from pipeline.picture import Picture
from pipeline.settings import DEFAULT


def test_only_large_holes_in_large_photos_have_a_deep_inside():
    thin = np.zeros((800, 1200), dtype=bool)
    thin[100:140, 100:1100] = True  # a 40 px banner: every pixel is near a known one
    assert deep_inside(thin, 64) is None
    small = np.ones((400, 600), dtype=bool)
    small[:, 500:] = False
    assert deep_inside(small, 64) is None  # small photos: their crops reach the border
    wide = np.zeros((300, 900), dtype=bool)
    wide[:, :600] = True
    deep = deep_inside(wide, 64)
    assert deep is not None and deep[:, :300].all() and not deep[:, 420:].any()
    assert not (deep & ~wide).any()


def test_a_hole_over_two_thirds_of_the_photo_is_filled():
    """Columns 0-479 of a 720 x 160 photo: crops deep inside hold no known pixel at all."""
    photo = np.asarray(sample_photo("chelsea", (720, 160)))
    hole = np.zeros(photo.shape[:2], dtype=bool)
    hole[:, :480] = True
    result = restore(Picture(pixels=photo.copy(), mode="RGB", source="wide"), hole, DEFAULT)
    np.testing.assert_array_equal(result.pixels[~hole], photo[~hole])
    filled = result.pixels[hole].astype(float)
    assert filled.std() > 1 and abs(filled.mean() - photo[~hole].mean()) < 60
