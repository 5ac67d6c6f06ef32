"""Un-blending in files that keep their colour per 2x2 block (JPEG and WebP, 4:2:0): a coloured
mark blended over a shipped photo, saved lossy, read back as a user's file arrives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES, hole_psnr
from PIL import Image

from pipeline.core.geometry import Box
from pipeline.core.mark.blend import VISIBLE, Mark, raw_inverse
from pipeline.core.mark.chroma import FULL, ChromaGrid
from pipeline.io.imaging import load_picture
from pipeline.io.marks import save_mark
from pipeline.job import Job, run_job


def _yellow_logo_case(tmp_path, suffix: str, **save) -> tuple:
    """The shipped logo (opacity up to 0.55) painted yellow over a clean sample: the truth, the
    marked file and the mark."""
    logo = np.asarray(Image.open(SAMPLES / "marks" / "logo.png").convert("RGBA"))
    alpha = (logo[..., 3].astype(np.float32) / 255)[60:150, 40:280]  # up to 0.55
    colour = np.broadcast_to(np.array([1.0, 0.85, 0.1], np.float32)[:, None, None],
                             (3, *alpha.shape)).copy()
    truth = np.asarray(Image.open(SAMPLES / "clean" / "chelsea.stock.png").convert("RGB"))
    truth = truth[60:150, 40:280]
    marked = alpha[..., None] * colour.transpose(1, 2, 0) + (1 - alpha[..., None]) * truth / 255
    path = tmp_path / f"marked{suffix}"
    Image.fromarray(np.round(marked * 255).astype(np.uint8)).save(path, **save)
    return truth, path, Mark(alpha, colour)


@pytest.mark.parametrize("suffix, save", [(".jpg", {"quality": 90}),
                                          (".webp", {"quality": 90})])
def test_lossy_files_report_their_colour_blocks_and_the_block_inverse_wins(tmp_path, suffix, save):
    truth, path, mark = _yellow_logo_case(tmp_path, suffix, **save)
    picture = load_picture(path)
    assert picture.lossy and picture.chroma == (2, 2)
    footprint = mark.alpha > VISIBLE
    image = picture.as_float()

    def psnr(raw: np.ndarray) -> float:
        return hole_psnr(np.round(np.clip(raw, 0, 1) * 255).transpose(1, 2, 0), truth, footprint)

    plain = psnr(raw_inverse(image, mark))
    by_block = psnr(raw_inverse(image, mark, ChromaGrid(*picture.chroma)))
    assert by_block > plain + 2


def test_lossless_and_full_colour_files_keep_the_plain_inverse(tmp_path):
    _, path, mark = _yellow_logo_case(tmp_path, ".png")
    picture = load_picture(path)
    assert picture.chroma == (1, 1)
    _, sharp, _ = _yellow_logo_case(tmp_path, ".jpg", quality=95, subsampling=0)
    assert load_picture(sharp).chroma == (1, 1)
    image = picture.as_float()
    np.testing.assert_array_equal(raw_inverse(image, mark, FULL), raw_inverse(image, mark))


def test_a_window_at_an_odd_offset_sees_the_same_blocks(tmp_path):
    _, path, mark = _yellow_logo_case(tmp_path, ".jpg", quality=90)
    picture = load_picture(path)
    grid = ChromaGrid(*picture.chroma)
    image = picture.as_float()
    whole = raw_inverse(image, mark, grid)
    box = Box(top=21, bottom=81, left=17, right=201)
    window = raw_inverse(box.cut(image), mark.cut(box), grid.within(box))
    inner = (slice(None), slice(8, -8), slice(8, -8))  # undoing the spreading reaches a few px
    np.testing.assert_allclose(window[inner], box.cut(whole)[inner], atol=1e-3)


def test_an_exact_template_on_a_jpeg_is_taken_out_in_place_without_a_network(tmp_path,
                                                                           tiny_settings):
    truth, path, mark = _yellow_logo_case(tmp_path, ".jpg", quality=90)
    template = save_mark(mark, tmp_path / "template.png")
    output = tmp_path / "out.png"
    settings = tiny_settings.with_overrides(fill="classic")
    result = run_job(Job(image=path, output=output, template=template), settings)
    assert result.steps == 0
    cleaned = np.asarray(Image.open(output))
    footprint = mark.alpha > VISIBLE
    observed = np.asarray(Image.open(path))
    np.testing.assert_array_equal(cleaned[~footprint], observed[~footprint])
    assert hole_psnr(cleaned, truth, footprint) > hole_psnr(observed, truth, footprint) + 10
