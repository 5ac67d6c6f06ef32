"""Tiled marks in template mode: a tile (or a sheet smaller than the photo) repeated on a
staggered grid over a shipped photo, copies cut by every border. Each copy is found, placed and
checked; the photo comes back >= 30 dB under the mark and bit-exact elsewhere. A photo without
the mark is refused untouched, the grid's copies over an unmarked part are refused, and a single
logo comes out as it always did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, sample_photo
from PIL import Image

from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import VISIBLE, Mark, recover
from pipeline.core.mark.placement import Placement, locate, place
from pipeline.core.mark.tiling import Copy, Tiling, find_copies
from pipeline.core.mark.tiling_grid import fit_grid
from pipeline.errors import NoMarkFound
from pipeline.io.imaging import load_picture
from pipeline.io.marks import load_mark, save_mark
from pipeline.job import Job, run_job

SIZE = (200, 260)  # height, width
ORIGIN = (-7, -30)  # a copy cut by the top and left borders
ACROSS, STAGGER = (0, 110), (40, 55)  # each row shifted by half a period


def tile(folder: Path) -> tuple[Mark, Path]:
    """The tight logo at half size, written as a template and read back (8-bit exact)."""
    path = folder / "tile.png"
    save_mark(load_mark(SAMPLES / "marks" / "logo-tight.png").scaled(0.5), path)
    return load_mark(path), path


def grid_copies(mark: Mark, size: tuple[int, int] = SIZE) -> list[Copy]:
    """Every grid copy that meets the photo."""
    found = []
    for row in range(-10, 11):
        for column in range(-10, 11):
            top = ORIGIN[0] + row * STAGGER[0] + column * ACROSS[0]
            left = ORIGIN[1] + row * STAGGER[1] + column * ACROSS[1]
            if -mark.size[0] < top < size[0] and -mark.size[1] < left < size[1]:
                found.append(Copy(top, left, on_grid=True))
    return found


def tiled(mark: Mark, copies: list[Copy], size: tuple[int, int] = SIZE) -> Mark:
    return Tiling(mark, tuple(copies), 0, None).mark(size)


def sheet(folder: Path, mark: Mark) -> Path:
    """A full-frame template smaller than the photo: 120x120 of the tiled pattern."""
    whole = tiled(mark, grid_copies(mark))
    box = (slice(23, 143), slice(41, 161))
    path = folder / "sheet.png"
    save_mark(Mark(whole.alpha[box].copy(), whole.colour[(slice(None), *box)].copy()), path)
    return path


def marked_photo(folder: Path, mark: Mark, name: str = "chelsea") -> tuple[Path, np.ndarray]:
    """(the marked photo's path, the clean truth as 8-bit HWC)."""
    clean = np.asarray(sample_photo(name, SIZE[::-1]), np.float32).transpose(2, 0, 1) / 255
    observed = quantize(mark.alpha * mark.colour + (1 - mark.alpha) * clean, np.uint8)
    path = folder / f"{name}.tiled.png"
    Image.fromarray(observed).save(path)
    return path, quantize(clean, np.uint8)


def footprint_psnr(result: np.ndarray, truth: np.ndarray, mark: Mark) -> float:
    footprint = mark.alpha > VISIBLE
    error = result[footprint].astype(np.float64) - truth[footprint]
    return float(10 * np.log10(255**2 / (error**2).mean()))


def _remove(tmp_path: Path, photo: Path, template: Path, settings) -> tuple[np.ndarray, object]:
    job = Job(image=photo, output=tmp_path / "out.png", template=template)
    result = run_job(job, settings)
    return np.asarray(Image.open(result.output)), result


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_a_staggered_tiled_mark_is_removed_with_its_one_tile(tmp_path, tiny_settings, name):
    mark, template = tile(tmp_path)
    copies = grid_copies(mark)
    whole = tiled(mark, copies)
    photo, truth = marked_photo(tmp_path, whole, name)

    result, job = _remove(tmp_path, photo, template, tiny_settings)

    psnr = footprint_psnr(result, truth, whole)
    print(f"{name}: {job.placement.describe()}, {psnr:.1f} dB over the mark")
    assert psnr >= 30
    outside = whole.alpha <= VISIBLE
    np.testing.assert_array_equal(result[outside], np.asarray(Image.open(photo))[outside])
    assert job.placement.copies >= len(copies) - 2 and job.fitted == 0
    assert "copies" in job.placement.describe() and job.placement.as_dict()["copies"] > 1


def test_a_full_frame_sheet_smaller_than_the_photo_covers_it(tmp_path, tiny_settings):
    mark, _ = tile(tmp_path)
    whole = tiled(mark, grid_copies(mark))
    photo, truth = marked_photo(tmp_path, whole, "rocket")

    result, job = _remove(tmp_path, photo, sheet(tmp_path, mark), tiny_settings)

    psnr = footprint_psnr(result, truth, whole)
    print(f"sheet: {job.placement.describe()}, {psnr:.1f} dB over the mark")
    assert psnr >= 30
    outside = whole.alpha <= VISIBLE
    np.testing.assert_array_equal(result[outside], np.asarray(Image.open(photo))[outside])


@pytest.mark.parametrize("which", ["tile", "sheet"])
def test_a_photo_without_the_mark_is_refused_and_untouched(tmp_path, tiny_settings, which):
    mark, template = tile(tmp_path)
    template = sheet(tmp_path, mark) if which == "sheet" else template
    photo = tmp_path / "clean.png"
    sample_photo("coffee", SIZE[::-1]).save(photo)
    job = Job(image=photo, output=tmp_path / "out.png", template=template)
    with pytest.raises(NoMarkFound, match=f"watermark {template.name} not found"):
        run_job(job, tiny_settings)
    assert not (tmp_path / "out.png").exists()


def test_grid_copies_over_an_unmarked_part_are_refused_and_left_alone(tmp_path):
    mark, _ = tile(tmp_path)
    left_half = [c for c in grid_copies(mark) if c.left < 100]
    whole = tiled(mark, left_half)
    photo, _ = marked_photo(tmp_path, whole)
    image = load_picture(photo).as_float()

    found = find_copies(mark, image, False, locate(mark, image))

    assert {(c.top, c.left) for c in found.copies} <= {(c.top, c.left) for c in left_half}
    assert len(found.copies) >= len(left_half) - 1 and found.unconfirmed >= 8


def test_a_single_logo_comes_out_as_before(tmp_path, tiny_settings):
    mark, template = tile(tmp_path)
    one = place(mark, Placement(60, 80, 1.0, 1.0), SIZE)
    photo, _ = marked_photo(tmp_path, one)
    picture = load_picture(photo)
    found = locate(mark, picture.as_float())
    before = recover(picture, place(mark, found, picture.size), tiny_settings).picture.pixels

    result, job = _remove(tmp_path, photo, template, tiny_settings)

    np.testing.assert_array_equal(result, before)
    assert (job.placement.top, job.placement.left) == (found.top, found.left)
    assert job.placement.confidence == pytest.approx(found.confidence, abs=1e-6)
    assert job.placement.as_dict().keys() == {"top", "left", "scale", "confidence"}


def test_the_grid_is_fitted_through_a_spurious_peak():
    first = (33, 25)
    copies = [(33 + 40 * j, 25 + 110 * i + 55 * j) for i in range(-1, 3) for j in range(-1, 4)]
    grid = fit_grid(first, [*copies, (71, 140)])
    assert grid is not None and len(grid.vectors) == 2
    assert abs(abs(np.linalg.det(grid.vectors)) - 40 * 110) < 1
    points = set(grid.points((15, 92), SIZE))
    assert {c for c in copies if -15 < c[0] < SIZE[0] and -92 < c[1] < SIZE[1]} <= points
    assert fit_grid(first, [first]) is None
