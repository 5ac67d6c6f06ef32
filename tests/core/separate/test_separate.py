"""Mask mode on a translucent mark: the mark is estimated inside a rough mask and un-blended;
an opaque one is left to inpainting."""

from __future__ import annotations

import numpy as np
from conftest import hole_psnr, marked

from pipeline.core.fill.restore import quantize
from pipeline.core.fill.structure import classic_fill
from pipeline.core.mark.blend import closed_form
from pipeline.core.separate.separate import separate


def as_pixels(values: np.ndarray) -> np.ndarray:
    return quantize(values, np.uint8)


def test_a_translucent_mark_is_separated_and_beats_inpainting():
    observed, truth, hole = marked(0.45)
    found = separate(observed, hole)
    assert found.separable
    assert 0.2 < found.opacity < 0.6  # the mean over the footprint takes in its soft edge
    recovered = np.where(hole[None], closed_form(observed, found.mark), observed)
    inpainted = classic_fill(observed, hole)
    truth_pixels = as_pixels(truth)
    separated_db = hole_psnr(as_pixels(recovered), truth_pixels, hole)
    inpainted_db = hole_psnr(as_pixels(inpainted), truth_pixels, hole)
    assert separated_db > inpainted_db + 3


def test_an_opaque_mark_is_not_separated():
    observed, _, hole = marked(1.0)
    found = separate(observed, hole)
    assert not found.separable
    assert found.opacity > 0.9


def test_a_mask_on_an_unmarked_photo_is_not_separated():
    _, truth, hole = marked(0.45)
    assert not separate(truth, hole).separable


def test_the_mark_stays_inside_the_mask_and_the_estimate_is_repeatable():
    observed, _, hole = marked(0.45)
    first, second = separate(observed, hole), separate(observed, hole)
    assert not first.mark.alpha[~hole].any()
    np.testing.assert_array_equal(first.mark.alpha, second.mark.alpha)
