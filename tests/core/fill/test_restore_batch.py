"""restore() fits small crops of one size together: the same pixels as one by one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import sample_photo

from pipeline.core.dip.generator import size_multiple
from pipeline.core.fill import regions
from pipeline.core.fill.restore import Observers, restore
from pipeline.picture import Picture
from pipeline.settings import RunOptions


@pytest.fixture
def float64():
    """Double precision: the maths alone decides (test_batch_fit.py says why)."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _dotted(tiny_settings):
    photo = np.asarray(sample_photo("chelsea", (160, 96)))
    hole = np.zeros(photo.shape[:2], dtype=bool)
    for top, left in ((20, 20), (20, 70), (20, 120), (64, 45), (64, 100)):
        hole[top : top + 5, left : left + 6] = True
    found = regions.find_regions(hole, tiny_settings.context, tiny_settings.merge_gap,
                                 size_multiple(tiny_settings.network))
    assert len(found) == 5 and len({(r.crop.height, r.crop.width) for r in found}) == 1
    return Picture(pixels=photo, mode="RGB", source="dots"), hole


def test_batched_regions_give_the_pixels_of_one_by_one(float64, tiny_settings):
    settings = dataclasses.replace(tiny_settings, steps=15, batch_fits=True)
    picture, hole = _dotted(settings)
    progress: list[tuple[int, int]] = []
    batched = restore(picture, hole, settings,
                      observers=Observers(progress=lambda d, t, _: progress.append((d, t))))
    alone = restore(picture, hole, dataclasses.replace(settings, batch_fits=False))
    np.testing.assert_array_equal(batched.pixels, alone.pixels)
    # optimiser checkpoints watch each fit: those regions are fitted one by one
    watched = restore(picture, hole, settings, RunOptions(checkpoint_every=1000))
    np.testing.assert_array_equal(watched.pixels, alone.pixels)
    assert not np.array_equal(batched.pixels[hole], picture.pixels[hole])
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1] == (5 * 15, 5 * 15)
