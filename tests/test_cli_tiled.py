"""`unmark remove --template` on a tiled mark, as a user runs it: every copy removed and counted,
or a photo without the mark refused in one line with nothing written."""

from __future__ import annotations

import numpy as np
from conftest import sample_photo
from core.mark.test_tiling import SIZE, footprint_psnr, grid_copies, marked_photo, tile, tiled
from PIL import Image
from test_cli_remove import unmark


def test_remove_takes_every_copy_of_a_tiled_mark(tmp_path):
    mark, template = tile(tmp_path)
    whole = tiled(mark, grid_copies(mark))
    photo, truth = marked_photo(tmp_path, whole)
    out = tmp_path / "clean.png"

    run = unmark("remove", photo, "--template", template, "-o", out, "--device", "cpu")

    assert run.returncode == 0, run.stderr
    said = run.stdout + run.stderr  # the console writes to stderr
    assert "tiled:" in said and "copies" in said
    assert footprint_psnr(np.asarray(Image.open(out)), truth, whole) >= 30


def test_a_photo_without_the_tiled_mark_is_one_line_and_nothing_written(tmp_path):
    _, template = tile(tmp_path)
    photo = tmp_path / "clean.png"
    sample_photo("coffee", SIZE[::-1]).save(photo)
    out = tmp_path / "out.png"

    run = unmark("remove", photo, "--template", template, "-o", out, "--device", "cpu")

    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not found" in lines[0] and "left untouched" in lines[0]
    assert "give its exact template" in lines[0] and "paint a mask" in lines[0]  # what to try
    assert not out.exists()
