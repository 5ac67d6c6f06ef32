"""Batched fits against one-by-one fits of the same regions with the same seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import sample_photo

from pipeline.core.dip.batch_fit import BatchLimits, batch_key, fit_batch, group
from pipeline.core.dip.fit import Blend, FitInputs, fit
from pipeline.core.dip.generator import build_skip, member_state, stack
from pipeline.core.fill.mask_fill import MaskFill
from pipeline.settings import FAST, DipSettings, NetworkShape

SIZE = 32  # two multiples of the tiny net's 8


def _crops(count: int, with_blend: bool = False) -> list[FitInputs]:
    """Crops of a real photo, each with a hole (mask mode's inputs: held-out pixels, a prior)."""
    photo = np.asarray(sample_photo("chelsea", (96, 64)), np.float32).transpose(2, 0, 1) / 255
    crops = []
    for index in range(count):
        top, left = (index * 13) % 32, (index * 29) % 64
        target = np.ascontiguousarray(photo[:, top : top + SIZE, left : left + SIZE])
        weight = np.ones((1, SIZE, SIZE), np.float32)
        weight[:, 12:18, 4 + index : 26] = 0
        if with_blend:
            alpha = np.full((1, SIZE, SIZE), 0.3, np.float32)
            crops.append(FitInputs(target, weight, Blend(alpha, np.ones_like(target))))
            continue
        inside = np.ones((SIZE, SIZE), bool)
        crops.append(MaskFill.plan(target, weight, inside, _settings()).inputs)
    return crops


def _settings() -> DipSettings:
    shape = NetworkShape((16, 16, 16), (16, 16, 16), (4, 4, 4), 8, False, "bilinear")
    return dataclasses.replace(FAST, network=shape, steps=12, check_every=3, patience=1,
                               min_steps=6, output_ema=0.5)


def test_stacked_network_is_its_members():
    settings = _settings()
    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(build_skip(settings.network))
    stacked = stack(nets)
    for index, net in enumerate(nets):
        saved = member_state(stacked, index)
        assert all(torch.equal(saved[name], value) for name, value in net.state_dict().items())
    inputs = torch.rand(3, 8, SIZE, SIZE)
    with torch.no_grad():
        together = stacked(inputs)
        alone = torch.cat([net(inputs[i : i + 1]) for i, net in enumerate(nets)])
    assert together.shape == (3, 3, SIZE, SIZE)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


@pytest.fixture
def float64():
    """Double precision: the maths alone decides, not the order of a grouped convolution's float32
    sums. In float32 the two agree to rounding at first (see below), but Adam divides by the
    gradient's size, so a rounding-sized gradient (a BatchNorm bias whose true gradient is 0)
    takes a learning-rate-sized step with either sign: over a fit, the outputs drift apart as much
    as one fit's do from one CPU's convolution code to another's."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("with_blend", [False, True])
def test_batched_and_one_by_one_fits_give_the_same_pixels(float64, with_blend):
    settings = _settings()
    crops = _crops(4, with_blend)
    seeds = [7, 8, 9, 1000]
    together = fit_batch(crops, settings, seeds)
    for crop, seed, batched in zip(crops, seeds, together, strict=True):
        alone = fit(crop, settings, seed=seed)
        assert batched.steps == alone.steps
        np.testing.assert_allclose(batched.output, alone.output, atol=1e-6, rtol=0)
        np.testing.assert_array_equal((batched.output * 255).round(), (alone.output * 255).round())
        if with_blend:
            assert batched.holdout_error is None and alone.holdout_error is None
        else:
            assert batched.holdout_error == pytest.approx(alone.holdout_error, rel=1e-5)
    # members start from their own seeds: different fits, not copies of one
    assert not np.allclose(together[0].output, together[1].output, atol=1e-2)


def test_in_float32_the_first_steps_agree_to_rounding():
    settings = dataclasses.replace(_settings(), steps=2)
    crops = _crops(3)
    together = fit_batch(crops, settings, [4, 5, 6])
    for crop, seed, batched in zip(crops, [4, 5, 6], together, strict=True):
        alone = fit(crop, settings, seed=seed)
        np.testing.assert_allclose(batched.output, alone.output, atol=1e-3, rtol=0)


def test_a_member_stops_early_on_its_own(float64):
    settings = dataclasses.replace(_settings(), steps=30)
    crops = _crops(3)
    seeds = [1, 2, 3]
    together = fit_batch(crops, settings, seeds)
    alone = [fit(crop, settings, seed=seed) for crop, seed in zip(crops, seeds, strict=True)]
    assert [r.steps for r in together] == [r.steps for r in alone]
    assert len({r.steps for r in alone}) > 1  # they did stop at different steps
    for batched, single in zip(together, alone, strict=True):
        np.testing.assert_allclose(batched.output, single.output, atol=1e-6, rtol=0)


def test_fits_are_grouped_by_shape_and_terms_within_the_budget():
    crops = _crops(3)
    lone = dataclasses.replace(crops[1], holdout=None)
    keys = [batch_key(c) for c in (crops[0], lone, crops[2], crops[0], crops[0])]
    assert group(keys, [3] * 5) == [[0, 2, 3], [4], [1]]
    assert group(keys, [1] * 5) == [[0], [2], [3], [4], [1]]
    limits = BatchLimits(crop_pixels=64 * 64, batch_pixels=8 * 64 * 64)
    assert [limits.members(p) for p in (32 * 32, 64 * 64, 64 * 80)] == [32, 8, 1]
