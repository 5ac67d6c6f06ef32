"""`unmark estimate` and `unmark remove --template` as a user runs them: files in, a template and
a cleaned photo out, one red line on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from PIL import Image
from typer.testing import CliRunner

import cli
from pipeline.io.marks import load_mark


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def marked_folder(folder: Path, count: int = 10) -> np.ndarray:
    """`count` photos of 320x208 (windows of the four clean samples, flipped three ways) with the
    shipped logo blended over each, as the stock samples were made. Returns the true footprint."""
    mark = load_mark(SAMPLES / "marks" / "logo.png")
    photos = [np.asarray(Image.open(p), dtype=np.float32) / 255
              for p in sorted(SAMPLES.glob("clean/*.png")) if ".stock" not in p.name]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = photos[index % len(photos)][:208]
        photo = [photo, photo[::-1], photo[:, ::-1]][index // len(photos)]
        blend = mark.alpha * mark.colour + (1 - mark.alpha) * photo.transpose(2, 0, 1)
        pixels = (blend.transpose(1, 2, 0) * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"m{index}.png")
    return mark.alpha > 0


def test_estimate_writes_a_template_with_the_logo_footprint(tmp_path: Path) -> None:
    truth = marked_folder(tmp_path / "marked")
    target = tmp_path / "template.png"
    made = unmark("estimate", tmp_path / "marked", "-o", target)
    assert made.exit_code == 0, made.output
    written = Image.open(target)
    assert written.mode == "RGBA" and written.size == (320, 208)
    found = np.asarray(written)[..., 3] > 0
    assert (found & truth).sum() / (found | truth).sum() >= 0.8
    assert f"footprint {found.sum()} px" in made.stderr and "mean opacity 0." in made.stderr


def test_remove_with_an_estimated_template(tmp_path: Path) -> None:
    marked_folder(tmp_path / "marked", count=4)
    assert unmark("estimate", tmp_path / "marked", "-o", tmp_path / "full.png").exit_code == 0
    # A window around the first letters keeps the fit quick; chelsea's match is a confident one.
    window = (70, 80, 134, 128)
    photo, template = tmp_path / "photo.png", tmp_path / "template.png"
    Image.open(tmp_path / "marked" / "m1.png").crop(window).save(photo)
    Image.open(tmp_path / "full.png").crop(window).save(template)
    output = tmp_path / "clean.png"
    cleaned = unmark("remove", photo, "--template", template, "-o", output, "--preset", "fast",
                     "--steps", "2", "--device", "cpu")
    assert cleaned.exit_code == 0, cleaned.output
    assert f"wrote {output} (mark at x=0, y=0, scale 1.00" in cleaned.stderr
    assert Image.open(output).size == Image.open(photo).size


def flat(folder: Path, count: int, size: tuple[int, int] = (48, 32)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", size, (40 * index, 90, 160)).save(folder / f"f{index}.png")
    return folder


@pytest.mark.parametrize("case", ["too-few", "mixed-sizes", "no-mark", "no-folder", "jpeg"])
def test_bad_inputs_give_one_red_line_and_exit_2(tmp_path: Path, case: str) -> None:
    folder, target = tmp_path / "photos", tmp_path / "template.png"
    expected = {
        "too-few": "photos: needs at least 3 images, found 2",
        "mixed-sizes": "the images differ in size (3 of 4 are 48x32, wide.png is 64x32)",
        "no-mark": "no common watermark found",
        "no-folder": "photos: no such folder",
        "jpeg": "template.jpg: write the template as .png",
    }[case]
    if case == "too-few":
        flat(folder, 2)
    elif case == "mixed-sizes":
        Image.new("RGB", (64, 32)).save(flat(folder, 3) / "wide.png")
    elif case == "no-mark":
        flat(folder, 3)
    elif case == "jpeg":
        marked_folder(folder, count=4)
        target = tmp_path / "template.jpg"
    made = unmark("estimate", folder, "-o", target)
    assert made.exit_code == 2
    assert expected in made.stderr
    assert len(made.stderr.strip().splitlines()) == 1 and "Traceback" not in made.output
    assert not target.exists()
