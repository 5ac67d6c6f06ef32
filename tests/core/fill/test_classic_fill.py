"""Mask mode's classic fill: broad shapes mixed on held-out pixels, detail topped up, no network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import sample_photo, textured_case
from scipy import ndimage

from pipeline.core.dip import fit as fit_module
from pipeline.core.fill.holdout import SPREAD_ONLY
from pipeline.core.fill.restore import restore
from pipeline.core.fill.structure import (
    fsr_fill,
    fsr_near_border,
    mix,
    mix_weights,
    spread_fill,
)
from pipeline.core.fill.texture import (
    DEEP_GAIN_LIMIT,
    NEAR_BORDER,
    TOP_UP_GAIN_LIMIT,
    detail_energy,
    lowpass,
    top_up_detail,
)
from pipeline.io.imaging import Picture
from pipeline.settings import DEFAULT


@pytest.fixture
def classic():
    return dataclasses.replace(DEFAULT, context=16)


def as_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32).transpose(2, 0, 1) / 255


def test_mix_weights_recover_the_mix_that_made_the_target():
    rng = np.random.default_rng(0)
    first, second, third = rng.random((3, 500))
    target = 0.3 * first + 0.7 * second
    weights = mix_weights([first, second, third], target)
    np.testing.assert_allclose(weights, [0.3, 0.7, 0.0], atol=1e-3)


def test_mix_without_held_out_pixels_is_an_even_mix():
    ones, zeros = np.ones((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.float32)
    mixed = mix(["a", "b"], [ones, zeros], [], np.ones((4, 4), dtype=bool))
    assert mixed.weights == {"a": 0.5, "b": 0.5}
    np.testing.assert_allclose(mixed.values, 0.5)


def test_fsr_continues_a_texture_better_than_a_smooth_fill(classic):
    truth, hole = textured_case("brick")
    marked = truth.copy()
    marked[hole] = 255
    filled = fsr_fill(as_float(marked), hole)
    np.testing.assert_array_equal(filled[:, ~hole], as_float(marked)[:, ~hole])
    error = float(np.abs(filled - as_float(truth))[:, hole].mean())
    flat = float(np.abs(lowpass(as_float(truth), 8) - as_float(truth))[:, hole].mean())
    assert error < flat


@pytest.mark.parametrize("name", ["grass", "brick"])
def test_default_fill_carries_the_detail_and_changes_only_the_hole(name, classic):
    truth, hole = textured_case(name)
    marked = truth.copy()
    marked[hole] = 0
    picture = Picture(pixels=marked, mode="RGB", source=name)
    result = restore(picture, hole, classic).pixels
    np.testing.assert_array_equal(result[~hole], marked[~hole])
    ratio = detail_energy(as_float(result), hole) / detail_energy(as_float(truth), hole)
    assert 0.6 < ratio < 1.4
    np.testing.assert_array_equal(result, restore(picture, hole, classic).pixels)


def test_the_default_mask_fill_builds_no_network(classic, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("the classic fill must not fit the network")

    monkeypatch.setattr(fit_module, "fit", no_fit)  # restore imports it where a network runs
    photo = np.asarray(sample_photo("chelsea", (96, 64)))
    hole = np.zeros(photo.shape[:2], dtype=bool)
    hole[24:34, 10:80] = True
    result = restore(Picture(pixels=photo.copy(), mode="RGB", source="c"), hole, classic).pixels
    np.testing.assert_array_equal(result[~hole], photo[~hole])
    assert np.abs(result[hole].astype(int) - photo[hole]).mean() < 40


def test_copied_detail_never_draws_an_edge_the_ring_does_not_have():
    """An exemplar that copied one sharp white line into a hole in a flat, slightly noisy field:
    the topped-up fill keeps some detail but no line of that strength."""
    rng = np.random.default_rng(1)
    target = np.clip(0.5 + rng.normal(0, 0.05, (3, 64, 64)), 0, 1).astype(np.float32)
    hole = np.zeros((64, 64), dtype=bool)
    hole[24:40, 16:48] = True
    exemplar = target.copy()
    exemplar[:, hole] = 0.5
    exemplar[:, 31, 16:48] = 1.0
    inside = np.ones_like(hole)
    base = np.where(hole[None], 0.5, target).astype(np.float32)
    filled = top_up_detail(base, exemplar, target, hole, inside, sigma=1.5)
    np.testing.assert_array_equal(filled[:, ~hole], target[:, ~hole])
    fine = filled - lowpass(filled, 1.5)
    assert 0 < float(np.abs(fine[:, hole]).max()) < 0.1  # unclipped: 0.12


def test_fsr_fills_only_what_the_mix_keeps_of_it():
    """Deeper than SPREAD_ONLY into a hole the mix keeps only the spread fill: FSR's candidate is
    the spread fill there, FSR's own near the border, and nothing outside the hole changes."""
    photo = as_float(np.asarray(sample_photo("chelsea", (480, 160))))
    hole = np.zeros(photo.shape[1:], dtype=bool)
    hole[:, :300] = True  # a wide hole at the photo's edge: up to 300 px from a known pixel
    depth = ndimage.distance_transform_edt(hole)
    filled = fsr_near_border(photo, hole)
    np.testing.assert_array_equal(filled[:, ~hole], photo[:, ~hole])
    deep = depth > SPREAD_ONLY
    np.testing.assert_allclose(filled[:, deep], spread_fill(photo, hole)[:, deep], atol=1e-6)
    # near the border, FSR continues the photo as FSR over the whole hole does
    border = photo[:, :, 300:301]
    assert np.abs(filled[:, :, 296:300] - border).mean() < 0.05
    near = filled[:, :, 292:300] - fsr_fill(photo, hole)[:, :, 292:300]
    assert np.abs(near).mean() < 0.02


def test_detail_deep_inside_a_large_hole_is_not_amplified():
    """Copied patches deep inside a large hole come from far away: their detail is added as it
    is, while near the border it may be scaled up to reach the ring's level."""
    rng = np.random.default_rng(2)
    target = np.clip(0.5 + rng.normal(0, 0.1, (3, 200, 200)), 0, 1).astype(np.float32)
    hole = np.zeros((200, 200), dtype=bool)
    hole[40:160, 40:160] = True
    exemplar = target.copy()
    exemplar[:, hole] = np.clip(0.5 + rng.normal(0, 0.02, (3, int(hole.sum()))), 0, 1)
    base = np.where(hole[None], 0.5, target).astype(np.float32)
    filled = top_up_detail(base, exemplar, target, hole, np.ones_like(hole), sigma=1.5)
    depth = ndimage.distance_transform_edt(hole)
    detail = filled - lowpass(filled, 1.5)
    near = hole & (depth > 4) & (depth <= NEAR_BORDER - 4)
    deep = depth > NEAR_BORDER + 4
    ratio = float(detail[:, near].std() / detail[:, deep].std())
    assert ratio == pytest.approx(TOP_UP_GAIN_LIMIT / DEEP_GAIN_LIMIT, rel=0.1)
