"""Template mode's fast path: where the closed-form inverse is exact, it is the answer and no
network runs; the network only fills what the inverse cannot."""

from __future__ import annotations

import dataclasses

import numpy as np
from conftest import SAMPLES, hole_psnr
from PIL import Image

from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import OPAQUE, Mark, closed_form, recover
from pipeline.io.imaging import load_picture
from pipeline.io.marks import load_mark, save_mark
from pipeline.job import Job, run_job
from pipeline.picture import Picture


def tiled_mark(size: tuple[int, int]) -> Mark:
    """The shipped tight logo tiled over a whole frame, as stock sites mark their photos."""
    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    height, width = size
    alpha = np.zeros(size, np.float32)
    colour = np.zeros((3, height, width), np.float32)
    for top in range(6, height - tight.size[0], 44):
        for left in range(top % 60, width - tight.size[1], 190):
            rows, cols = slice(top, top + tight.size[0]), slice(left, left + tight.size[1])
            alpha[rows, cols] = tight.alpha
            colour[:, rows, cols] = tight.colour
    return Mark(alpha=alpha, colour=colour)


def marked_photo(mark: Mark) -> tuple[Picture, np.ndarray]:
    """A lossless 8-bit photo carrying `mark`, and its truth."""
    height, width = mark.size
    photo = Image.open(SAMPLES / "clean" / "astronaut.png").convert("RGB").resize((width, height))
    truth = np.asarray(photo)
    clean = truth.transpose(2, 0, 1).astype(np.float32) / 255
    blended = mark.alpha * mark.colour + (1 - mark.alpha) * clean
    return Picture(pixels=quantize(blended, np.uint8), mode="RGB", source="tiled"), truth


def test_a_translucent_mark_on_a_lossless_file_is_the_exact_inverse(tiny_settings):
    mark = tiled_mark((300, 300))
    picture, truth = marked_photo(mark)
    footprint = mark.alpha > 1.5 / 255
    assert 0.1 < footprint.mean() < 0.25

    result = recover(picture, mark, tiny_settings)

    assert result.fitted == 0  # no network ran
    inverse = quantize(closed_form(picture.as_float(), mark), np.uint8)
    np.testing.assert_array_equal(result.picture.pixels[footprint], inverse[footprint])
    np.testing.assert_array_equal(result.picture.pixels[~footprint], picture.pixels[~footprint])
    assert hole_psnr(result.picture.pixels, truth, footprint) > 45


def test_a_lossless_tiled_job_runs_no_network(tmp_path, tiny_settings):
    mark = tiled_mark((300, 300))
    picture, truth = marked_photo(mark)
    Image.fromarray(picture.pixels).save(tmp_path / "photo.png")
    save_mark(mark, tmp_path / "tiles.png")
    job = Job(image=tmp_path / "photo.png", output=tmp_path / "out.png",
              template=tmp_path / "tiles.png")

    result = run_job(job, tiny_settings)

    assert result.fitted == 0 and result.placement.problem is None
    cleaned = load_picture(result.output).pixels
    assert hole_psnr(cleaned, truth, load_mark(tmp_path / "tiles.png").alpha > 0) > 45


def test_only_opaque_pixels_are_fitted(tiny_settings):
    mark = tiled_mark((96, 256))
    alpha = mark.alpha.copy()
    alpha[10:20, 40:80] = np.where(alpha[10:20, 40:80] > 0.3, 0.97, alpha[10:20, 40:80])
    mark = Mark(alpha=alpha, colour=mark.colour)
    picture, _ = marked_photo(mark)
    opaque = alpha >= OPAQUE
    assert opaque.any()

    result = recover(picture, mark, dataclasses.replace(tiny_settings, steps=10))

    assert result.fitted == int(opaque.sum())
    translucent = (alpha > 1.5 / 255) & ~opaque
    inverse = quantize(closed_form(picture.as_float(), mark), np.uint8)
    np.testing.assert_array_equal(result.picture.pixels[translucent], inverse[translucent])
