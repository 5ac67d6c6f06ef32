"""The texture stage: fills that carry the detail of their surroundings, not a smudge."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import textured_case

from pipeline.core.fill.restore import restore
from pipeline.core.fill.structure import classic_fill
from pipeline.core.fill.texture import DETAIL_SIGMA, detail_energy, lowpass
from pipeline.picture import Picture

DETAIL_FLOOR = 0.6  # a fill must carry at least this share of the truth's fine detail


def detail_ratio(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    as_float = lambda pixels: pixels.astype(np.float32).transpose(2, 0, 1) / 255  # noqa: E731
    return detail_energy(as_float(result), hole) / detail_energy(as_float(truth), hole)


@pytest.fixture
def texture_settings(tiny_settings):
    return dataclasses.replace(tiny_settings, steps=30, texture_sigma=1.5)


@pytest.mark.parametrize("name", ["grass", "brick"])
def test_fill_keeps_the_detail_a_smooth_fill_loses(name, texture_settings):
    truth, hole = textured_case(name)
    marked = truth.copy()
    marked[hole] = 255
    picture = Picture(pixels=marked, mode="RGB", source=name)
    result = restore(picture, hole, texture_settings).pixels
    assert detail_ratio(result, truth, hole) > DETAIL_FLOOR
    # the same check fails a smooth fill of the same hole, and the network alone
    smooth = (classic_fill(picture.as_float(), hole).transpose(1, 2, 0) * 255).round()
    assert detail_ratio(smooth, truth, hole) < DETAIL_FLOOR
    untextured = dataclasses.replace(texture_settings, texture_sigma=0.0)
    assert detail_ratio(restore(picture, hole, untextured).pixels, truth, hole) < DETAIL_FLOOR


def test_textured_fill_changes_only_the_hole_and_repeats_with_the_seed(texture_settings):
    truth, hole = textured_case("grass")
    marked = truth.copy()
    marked[hole] = 0
    picture = Picture(pixels=marked, mode="RGB", source="grass")
    first = restore(picture, hole, texture_settings).pixels
    np.testing.assert_array_equal(first[~hole], marked[~hole])
    np.testing.assert_array_equal(first, restore(picture, hole, texture_settings).pixels)
    other = restore(picture, hole, dataclasses.replace(texture_settings, seed=1)).pixels
    assert not np.array_equal(first[hole], other[hole])


def test_grey_and_sixteen_bit_pictures_get_texture_too(texture_settings):
    truth, hole = textured_case("brick")
    grey16 = (truth[..., :1].astype(np.uint16) * 257)
    marked = grey16.copy()
    marked[hole] = 65535
    result = restore(Picture(pixels=marked, mode="L", source="grey"), hole, texture_settings)
    assert result.pixels.dtype == np.uint16 and result.pixels.shape == marked.shape
    np.testing.assert_array_equal(result.pixels[~hole], marked[~hole])
    as8 = np.repeat((result.pixels // 257).astype(np.uint8), 3, axis=2)
    assert detail_ratio(as8, truth, hole) > DETAIL_FLOOR


def test_lowpass_keeps_the_mean_and_removes_the_detail():
    rng = np.random.default_rng(0)
    noise = rng.random((1, 64, 64)).astype(np.float32)
    smooth = lowpass(noise, DETAIL_SIGMA)
    assert abs(float(smooth.mean()) - float(noise.mean())) < 1e-3
    everywhere = np.ones((64, 64), dtype=bool)
    assert detail_energy(smooth, everywhere) < 0.2 * detail_energy(noise, everywhere)
