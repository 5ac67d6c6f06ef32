"""Placement on a multi-megapixel photo: a small logo found fast (pyramid search, refine near the
best peaks), and confirmed by the blend model, or refused with nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES
from PIL import Image

from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import Mark
from pipeline.core.mark.placement import Placement, locate, place
from pipeline.core.mark.verify import verify
from pipeline.errors import NoMarkFound
from pipeline.io.marks import load_mark, save_mark
from pipeline.job import Job, run_job

SIZE = (1536, 2816)


def large_photo(name: str = "chelsea") -> np.ndarray:
    """A shipped sample upscaled to 2816x1536, as floats (C, H, W) on the 8-bit grid."""
    photo = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB")
    photo = photo.resize(SIZE[::-1], Image.Resampling.BICUBIC)
    return np.asarray(photo, np.float32).transpose(2, 0, 1) / 255


def logo() -> Mark:
    """The shipped tight logo at 96 px wide."""
    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    return tight.scaled(96 / tight.size[1])


def blended(photo: np.ndarray, mark: Mark, where: Placement) -> np.ndarray:
    placed = place(mark, where, photo.shape[1:])
    return quantize(placed.alpha * placed.colour + (1 - placed.alpha) * photo, np.uint8)


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_a_shifted_and_scaled_logo_is_found_on_a_large_photo(name):
    truth = Placement(top=1105, left=2230, scale=1.3, confidence=1.0)
    marked = blended(large_photo(name), logo(), truth).transpose(2, 0, 1) / np.float32(255)

    found = locate(logo(), marked)

    assert abs(found.top - truth.top) <= 2 and abs(found.left - truth.left) <= 2
    assert abs(found.scale - truth.scale) / truth.scale < 0.03
    assert found.problem is None and found.confidence > 0.6


def test_the_blend_model_refuses_a_spot_next_to_the_mark():
    photo = large_photo()[:, 1000:1200, 2100:2400]
    mark = logo()
    marked = blended(photo, mark, Placement(80, 100, 1.0, 1.0)).transpose(2, 0, 1) / 255
    right = place(mark, Placement(80, 100, 1.0, 1.0), photo.shape[1:])
    wrong = place(mark, Placement(83, 104, 1.0, 1.0), photo.shape[1:])
    assert verify(right, marked.astype(np.float32), lossy=False).problem is None
    assert verify(wrong, marked.astype(np.float32), lossy=False).problem is not None


def test_an_unmarked_large_photo_is_refused_and_untouched(tmp_path, tiny_settings):
    Image.fromarray(quantize(large_photo("coffee"), np.uint8)).save(tmp_path / "photo.png")
    save_mark(logo(), tmp_path / "logo.png")
    output = tmp_path / "out.png"
    job = Job(image=tmp_path / "photo.png", output=output, template=tmp_path / "logo.png")
    with pytest.raises(NoMarkFound, match="photo.png: watermark logo.png not found") as refused:
        run_job(job, tiny_settings)
    assert "give its exact template" in str(refused.value)  # and says what to try next
    assert not output.exists()


def test_a_logo_job_on_a_large_photo_runs_no_network(tmp_path, tiny_settings):
    truth = Placement(top=300, left=500, scale=1.0, confidence=1.0)
    Image.fromarray(blended(large_photo(), logo(), truth)).save(tmp_path / "photo.png")
    save_mark(logo(), tmp_path / "logo.png")
    job = Job(image=tmp_path / "photo.png", output=tmp_path / "out.png",
              template=tmp_path / "logo.png")

    result = run_job(job, tiny_settings)

    assert (result.placement.top, result.placement.left) == (truth.top, truth.left)
    assert result.fitted == 0


def test_a_copy_cut_by_the_border_is_placed_on_its_visible_part():
    mark = logo()  # 16 x 96 px
    placed = place(mark, Placement(top=-5, left=-20, scale=1.0, confidence=1.0), (40, 60))
    np.testing.assert_array_equal(placed.alpha[:11], mark.alpha[5:, 20:80])
    assert placed.alpha[11:].max() == 0
    corner = place(mark, Placement(top=30, left=50, scale=1.0, confidence=1.0), (40, 60))
    np.testing.assert_array_equal(corner.alpha[30:, 50:], mark.alpha[:10, :10])
    assert place(mark, Placement(-200, 0, 1.0, 1.0), (40, 60)).alpha.max() == 0
