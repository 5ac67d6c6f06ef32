"""One Box: cutting, growing inside an image, bounding a footprint, overlapping a canvas."""

from __future__ import annotations

import numpy as np

from pipeline.core.geometry import Box, box_around, overlap


def test_a_box_cuts_the_last_two_axes_as_a_view():
    image = np.arange(2 * 5 * 6).reshape(2, 5, 6)
    box = Box.at(1, 2, (3, 2))
    assert (box.top, box.bottom, box.left, box.right) == (1, 4, 2, 4)
    assert box.cut(image).shape == (2, 3, 2)
    np.testing.assert_array_equal(box.cut(image), image[:, 1:4, 2:4])
    box.cut(image)[...] = -1
    assert (image[:, 1:4, 2:4] == -1).all()
    assert (image == -1).sum() == 2 * 3 * 2


def test_growing_stays_inside_the_image_and_meeting_needs_a_shared_pixel():
    grown = Box(0, 2, 4, 6).grown(3, (5, 7))
    assert grown == Box(0, 5, 1, 7)
    assert Box(0, 2, 0, 2).meets(Box(1, 3, 1, 3))
    assert not Box(0, 2, 0, 2).meets(Box(2, 4, 0, 2))  # bottom is exclusive


def test_box_around_bounds_the_footprint_plus_its_margin():
    footprint = np.zeros((10, 12), bool)
    footprint[3, 4] = footprint[6, 8] = True
    assert box_around(footprint, 0) == Box(3, 7, 4, 9)
    assert box_around(footprint, 5) == Box(0, 10, 0, 12)


def test_overlap_gives_the_canvas_part_and_the_same_part_of_the_box():
    canvas, inside = overlap(-2, 5, (4, 4), (6, 7))
    assert canvas == Box(0, 2, 5, 7)
    assert inside == Box(2, 4, 0, 2)
    canvas, inside = overlap(10, 10, (4, 4), (6, 7))
    assert canvas.height == 0 and inside.height == 0
