"""Mask mode's classic fill: broad shapes mixed on held-out pixels, detail topped up, no network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import sample_photo, textured_case

from pipeline.core.dip import fit as fit_module
from pipeline.core.fill.restore import restore
from pipeline.core.fill.structure import fsr_fill, mix, mix_weights
from pipeline.core.fill.texture import detail_energy, lowpass, top_up_detail
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
