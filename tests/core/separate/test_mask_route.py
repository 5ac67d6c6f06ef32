"""Mask mode, region by region: translucent marks are un-blended, opaque ones inpainted, and
a mask that holds both gets both."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from conftest import hole_psnr, marked
from scipy import ndimage

from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import Mark
from pipeline.core.separate.mask_route import INPAINTED, MIXED, SEPARATED, _gone, remove_in_mask
from pipeline.picture import Picture


def as_pixels(values: np.ndarray) -> np.ndarray:
    return quantize(values, np.uint8)


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


def test_a_translucent_logo_and_an_opaque_number_each_get_their_route(tiny_settings):
    observed, truth, logo_hole = marked(0.45)
    number = np.zeros_like(logo_hole)
    number[68:76, 186:218] = True  # an opaque white "image number", far from the logo
    observed = np.where(number, 1.0, observed).astype(np.float32)
    number_hole = ndimage.binary_dilation(number, iterations=2)
    hole = logo_hole | number_hole
    outcome = remove_in_mask(as_picture(observed), hole, replace(tiny_settings, separate=True))
    assert outcome.route == MIXED
    result = outcome.picture.pixels.astype(np.float32) / 255
    np.testing.assert_array_equal(outcome.picture.pixels[~hole], as_pixels(observed)[~hole])
    truth_hwc = truth.transpose(1, 2, 0)
    # the white bar is filled from around it, not left white
    assert np.abs(result[number] - truth_hwc[number]).mean() < 0.5 * np.abs(
        1.0 - truth_hwc[number]).mean()
    assert outcome.mark is not None and not outcome.mark.alpha[number_hole].any()


def test_a_separation_that_leaves_the_outline_is_not_kept():
    observed, truth, hole = marked(0.45)
    alpha = np.where(hole, np.abs(observed - truth).max(axis=0) / 0.45, 0).clip(0, 1) * 0.45
    colour = np.ones_like(observed)
    assert _gone(observed, Mark(alpha.astype(np.float32), colour))
    assert not _gone(observed, Mark((alpha * 0.4).astype(np.float32), colour))
