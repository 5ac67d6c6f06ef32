"""`template: auto` through `unmark run`: the coordinator estimates each entry's mark once, from
all its images, and the jobs remove it; a photo without the mark is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from batchkit import manifest, tiny_settings
from PIL import Image
from scipy import ndimage
from sizes_kit import marked_sizes
from typer.testing import CliRunner

import cli
from pipeline.batch import ledger

FAST = ["--threads", "1", "--devices", "cpu"]
HEIGHT, WIDTH = 64, 96


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def background(seed: int) -> np.ndarray:
    """(H, W, 3) floats: a smooth random colour field with a little noise, one per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (3, 4, 3)).astype(np.uint8)
    smooth = Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    noisy = np.asarray(smooth, np.float32) + rng.normal(0, 2, (HEIGHT, WIDTH, 3))
    return np.clip(noisy, 0, 255) / 255


def logo_alpha() -> np.ndarray:
    """Three translucent bars, like a blocky two-letter logo."""
    alpha = np.zeros((HEIGHT, WIDTH), np.float32)
    alpha[20:44, 30:42] = 0.5
    alpha[20:30, 42:66] = 0.5
    alpha[36:44, 50:66] = 0.5
    return alpha


def save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(path)
    return path


def marked_folder(root: Path, count: int = 8) -> list[np.ndarray]:
    """root/stock/sN.png: white logo blended at 50% over `count` backgrounds; returns them."""
    alpha = logo_alpha()[..., None]
    truths = [background(seed) for seed in range(count)]
    for index, truth in enumerate(truths):
        save(alpha + (1 - alpha) * truth, root / "stock" / f"s{index}.png")
    return truths


def test_auto_entries_are_estimated_once_and_photos_without_the_mark_fail(tmp_path: Path) -> None:
    truths = marked_folder(tmp_path)
    rgba = np.dstack([np.ones((HEIGHT, WIDTH, 3)), logo_alpha()])[16:48, 26:70]
    save(rgba, tmp_path / "mark.png")
    save(background(20), tmp_path / "plain.png")
    path = manifest(tmp_path, f"""
        version: 1
        output: out
        settings: {tiny_settings(5)}
        jobs:
          - images: stock/*.png
            template: auto
          - image: plain.png
            template: mark.png
    """)

    ran = unmark("run", path, "--json", *FAST)
    assert ran.exit_code == 1, ran.output  # the plain photo failed
    jobs = {job["key"]: job for job in json.loads(ran.stdout)["jobs"]}
    assert jobs.pop("plain.png")["state"] == "failed"
    assert {job["state"] for job in jobs.values()} == {"done"} and len(jobs) == len(truths)
    assert not (tmp_path / "out/plain.png").exists()

    [template] = (ledger.state_dir(tmp_path / "out") / "templates").glob("entry0-*.png")
    footprint = np.asarray(Image.open(template))[..., 3] > 0
    truth_footprint = logo_alpha() > 0
    assert (footprint & truth_footprint).sum() / (footprint | truth_footprint).sum() > 0.9
    for index in range(len(truths)):
        marked = np.asarray(Image.open(tmp_path / f"stock/s{index}.png"))
        cleaned = np.asarray(Image.open(tmp_path / f"out/s{index}.png"))
        assert cleaned.shape == marked.shape
        np.testing.assert_array_equal(cleaned[~footprint], marked[~footprint])

    status = unmark("status", path)
    assert status.exit_code == 0
    assert status.stdout.count("mark at x=0 y=0, confidence") == len(truths)  # full-size marks
    assert "plain.png: watermark mark.png not found" in status.stdout
    done = json.loads(unmark("status", path, "--json").stdout)["jobs"]
    assert all(job["facts"]["placement"]["confidence"] > 0.4 for job in done if job["facts"])

    made = template.stat().st_mtime_ns
    again = json.loads(unmark("run", path, "--json", *FAST).stdout)
    assert again["counts"] == {"done": 0, "skipped": len(truths), "failed": 1, "pending": 0}
    assert template.stat().st_mtime_ns == made  # the mark was reused, not estimated again

    save(logo_alpha()[..., None] + (1 - logo_alpha()[..., None]) * background(8),
         tmp_path / "stock" / "s8.png")
    grown = json.loads(unmark("run", path, "--json", *FAST).stdout)
    assert grown["counts"]["done"] == len(truths) + 1  # a new mark: every job of the entry redone
    [estimated] = template.parent.glob("entry0-*.png")
    assert estimated != template and not template.exists()


def run_auto(root: Path, images: str):
    """`unmark run` over one `template: auto` entry of `images` (a glob under `root`)."""
    path = manifest(root, f"""
        version: 1
        output: out
        settings: {tiny_settings(5)}
        jobs: [{{images: {images}, template: auto}}]
    """)
    return unmark("run", path, "--json", *FAST)


def test_an_auto_entry_with_mixed_sizes_places_the_mark_and_refuses_the_photo_without_it(
    tmp_path: Path,
) -> None:
    marked_folder(tmp_path, count=4)
    save(background(9)[:48], tmp_path / "stock" / "wide.png")  # another size, no mark
    ran = run_auto(tmp_path, "stock/*.png")
    assert ran.exit_code == 1
    jobs = {job["key"]: job for job in json.loads(ran.stdout)["jobs"]}
    wide = jobs.pop("wide.png")
    assert wide["state"] == "failed" and "not found" in wide["reason"]
    assert {job["state"] for job in jobs.values()} == {"done"}
    assert not (tmp_path / "out" / "wide.png").exists()
    templates = list((ledger.state_dir(tmp_path / "out") / "templates").glob("entry0-*.png"))
    # the four photos of one size got their own estimate; the other size another (or theirs)
    assert any(Image.open(template).size == (WIDTH, HEIGHT) for template in templates)


def test_an_auto_entry_of_two_sizes_cleans_every_photo(tmp_path: Path) -> None:
    """AI-service style: the mark scales with the photo and sits at a corner (tests/sizes_kit)."""
    photos = marked_sizes(tmp_path / "ai")
    ran = run_auto(tmp_path, "ai/*.png")
    assert ran.exit_code == 0, ran.stdout
    for marked in photos:
        cleaned = np.asarray(Image.open(tmp_path / "out" / marked.path.name), np.float32)
        error = ((cleaned - marked.truth) ** 2)[marked.footprint].mean()
        assert 10 * np.log10(255**2 / error) >= 30, marked.path.name
        away = ~ndimage.binary_dilation(marked.footprint, iterations=3)  # the estimate's rim
        np.testing.assert_array_equal(cleaned[away], np.asarray(Image.open(marked.path),
                                                                np.float32)[away])
