"""Mask mode on a translucent mark: the mark is estimated inside a rough mask and un-blended;
an opaque one is left to inpainting."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from conftest import SAMPLES, hole_psnr
from PIL import Image
from scipy import ndimage

from pipeline.core.blend import closed_form
from pipeline.core.mask_fill import classic_fill
from pipeline.core.restore import quantize
from pipeline.core.separate import INPAINTED, SEPARATED, remove_in_mask, separate
from pipeline.io.imaging import Picture
from pipeline.io.marks import load_mark

SIZE = (80, 224)  # height, width


def marked(opacity: float, name: str = "coffee") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed, truth, rough mask): the shipped logo's shape in white at `opacity` over a
    shipped photo, 8-bit; the mask is the logo's footprint dilated by 3 px."""
    logo = load_mark(SAMPLES / "marks" / "logo-tight.png")
    height, width = SIZE
    shape = np.zeros(SIZE, np.float32)
    top, left = (height - logo.size[0]) // 2, (width - logo.size[1]) // 2
    shape[top:top + logo.size[0], left:left + logo.size[1]] = logo.alpha / logo.alpha.max()
    photo = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB").resize((width, height))
    truth = np.asarray(photo).transpose(2, 0, 1).astype(np.float32) / 255
    alpha = opacity * shape
    observed = quantize(alpha * 1.0 + (1 - alpha) * truth, np.uint8).transpose(2, 0, 1) / 255
    hole = ndimage.binary_dilation(shape > 0.01, iterations=3)
    return observed.astype(np.float32), truth, hole


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


def as_picture(values: np.ndarray) -> Picture:
    return Picture(pixels=as_pixels(values), mode="RGB", source="marked")


def test_remove_in_mask_routes_and_touches_only_the_mask(tiny_settings):
    observed, truth, hole = marked(0.45)
    picture = as_picture(observed)
    separating = replace(tiny_settings, separate=True)  # opt-in: see README, Presets
    first = remove_in_mask(picture, hole, separating)
    second = remove_in_mask(picture, hole, separating)
    assert first.route == SEPARATED and first.mark is not None
    np.testing.assert_array_equal(first.picture.pixels[~hole], picture.pixels[~hole])
    np.testing.assert_array_equal(first.picture.pixels, second.picture.pixels)
    inpainted = remove_in_mask(picture, hole, replace(tiny_settings, separate=False))
    assert inpainted.route == INPAINTED
    truth_pixels = as_pixels(truth)
    assert (hole_psnr(first.picture.pixels, truth_pixels, hole)
            > hole_psnr(inpainted.picture.pixels, truth_pixels, hole) + 3)


def test_remove_in_mask_inpaints_an_opaque_mark(tiny_settings):
    observed, _, hole = marked(1.0)
    outcome = remove_in_mask(as_picture(observed), hole, replace(tiny_settings, separate=True))
    assert outcome.route == INPAINTED and outcome.opacity > 0.9
