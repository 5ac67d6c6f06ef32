"""Photos of two sizes with a corner-anchored mark at two scales (tests/sizes_kit.py): the mark is
found at its anchor, estimated as its box, and removed from photos by search; a photo without it
is refused and left untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import hole_psnr, sample_photo
from PIL import Image
from sizes_kit import marked_sizes

from pipeline.core.learn.anchor import Anchor, ScaleRule
from pipeline.core.learn.estimate_sizes import estimate_pictures
from pipeline.core.mark.placement import locate, place
from pipeline.errors import NoMarkFound
from pipeline.io.imaging import load_picture
from pipeline.io.marks import save_mark
from pipeline.job import Job, run_job


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sizes")
    made = marked_sizes(root / "marked")
    estimate = estimate_pictures([load_picture(m.path) for m in made], "marked")
    template = save_mark(estimate.mark, root / "template.png")
    return made, estimate, template


def test_the_anchor_and_scale_rule_are_found_and_the_mark_kept_as_its_box(folder) -> None:
    _, estimate, _ = folder
    assert estimate.alignment.anchor is Anchor.BOTTOM_RIGHT or estimate.alignment.rule is not (
        ScaleRule.FIXED)  # same-shaped photos scaled alike line up from any anchor
    assert estimate.alignment.rule is not ScaleRule.FIXED
    height, width = estimate.mark.size
    assert 48 <= height <= 60 and 294 <= width <= 306  # the 48 px logo, 294 px wide, and a rim


def test_placed_by_search_the_footprint_matches_on_the_large_photos(folder) -> None:
    made, estimate, _ = folder
    for marked in made[4:]:
        picture = load_picture(marked.path)
        found = locate(estimate.mark, picture.as_float())
        assert found.problem is None
        placed = place(estimate.mark, found, picture.size).alpha > 0
        iou = (placed & marked.footprint).sum() / (placed | marked.footprint).sum()
        assert iou >= 0.8


def test_removal_by_search_on_a_large_photo(folder, tmp_path: Path, tiny_settings) -> None:
    made, _, template = folder
    marked = made[4]
    result = run_job(Job(marked.path, tmp_path / "clean.png", template=template), tiny_settings)
    cleaned = np.asarray(Image.open(result.output))
    assert hole_psnr(cleaned, marked.truth, marked.footprint) >= 30
    keep = ~place_footprint(result, template, cleaned.shape[:2])
    np.testing.assert_array_equal(cleaned[keep], np.asarray(Image.open(marked.path))[keep])


def place_footprint(result, template: Path, size: tuple[int, int]) -> np.ndarray:
    from pipeline.io.marks import load_mark

    return place(load_mark(template), result.placement, size).alpha > 0


def test_a_photo_of_another_size_without_the_mark_is_refused(folder, tmp_path: Path,
                                                             tiny_settings) -> None:
    _, _, template = folder
    plain = tmp_path / "plain.png"
    sample_photo("chelsea", (288, 208)).save(plain)
    with pytest.raises(NoMarkFound, match="left untouched"):
        run_job(Job(plain, tmp_path / "out.png", template=template), tiny_settings)
    assert not (tmp_path / "out.png").exists()
