"""Robust 3's messages: mask warnings before any fitting, with the hint that fits the flags
given; names holding markup or newlines print as one plain line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from batchkit import HEIGHT, WIDTH, manifest, mask, photo, tiny_settings
from PIL import Image
from test_cli_robust import FAST, unmark

# the default's mask fill fits no network: these runs take a preset that does, to have steps
FITTING = ["--preset", "quality", "--steps", "2", "--device", "cpu"]


def _black_mask(path: Path, share: float, size=(HEIGHT, WIDTH)) -> Path:
    pixels = np.full(size, 255, np.uint8)
    pixels[:, : round(size[1] * share)] = 0  # black = remove
    Image.fromarray(pixels).save(path)
    return path


def _one_mask_manifest(root: Path, images: str, settings: str) -> Path:
    """A manifest giving every photo matching `images` the mask root/m.png."""
    return manifest(root, f"""
        version: 1
        output: out
        settings: {settings}
        jobs:
          - images: {images}
            mask: m.png
    """)


def _before_the_fit(stderr: str, text: str) -> None:
    lines = stderr.splitlines()
    where = next(index for index, line in enumerate(lines) if text in line)
    steps = [index for index, line in enumerate(lines) if " step " in line]
    assert steps and where < steps[0], stderr


def test_a_mostly_black_mask_is_warned_about_before_the_fit(tmp_path):
    image = photo(tmp_path / "a.png")
    hole = _black_mask(tmp_path / "m.png", 0.95)
    run = unmark("remove", image, "--mask", hole, "-o", tmp_path / "o.png", *FITTING)
    assert run.exit_code == 0, run.stderr
    _before_the_fit(run.stderr, "the mask covers 96% of the image")
    assert run.stderr.count("the mask covers") == 1 and "pass --invert-mask" in run.stderr


def test_with_invert_mask_the_hint_says_to_drop_it(tmp_path):
    image = photo(tmp_path / "a.png")
    hole = _black_mask(tmp_path / "m.png", 0.05)  # white (removed with --invert-mask): 95%
    run = unmark("remove", image, "--mask", hole, "--invert-mask", "-o", tmp_path / "o.png",
                 *FAST)
    assert run.exit_code == 0, run.stderr
    assert "drop --invert-mask" in run.stderr and "pass --invert-mask" not in run.stderr


def test_a_mask_of_another_size_is_warned_about_before_the_fit(tmp_path):
    image = photo(tmp_path / "a.png")
    hole = mask(tmp_path / "m.png", size=(HEIGHT // 2, WIDTH // 2))
    run = unmark("remove", image, "--mask", hole, "-o", tmp_path / "o.png", *FITTING)
    assert run.exit_code == 0, run.stderr
    _before_the_fit(run.stderr, "resized to the image's")


def test_a_name_that_looks_like_markup_prints_as_it_is(tmp_path):
    image = photo(tmp_path / "[" / "x].png")
    hole = mask(tmp_path / "[" / "m].png", size=(HEIGHT // 2, WIDTH // 2))  # a warning names it
    run = unmark("remove", image, "--mask", hole, *FAST)
    assert run.exit_code == 0, run.stderr
    assert "[/m].png: mask is 24x16, resized" in run.stderr.replace("\n", "")
    assert "Traceback" not in run.stderr and "MarkupError" not in run.stderr
    missing = unmark("remove", tmp_path / "[" / "y].png", "--mask", hole, *FAST)
    assert missing.exit_code == 2 and "[/y].png: no such file" in missing.stderr


def test_newlines_in_names_keep_status_one_line_per_job(tmp_path):
    photo(tmp_path / "photos" / "a\nb.png")
    photo(tmp_path / "photos" / "c.png", seed=1)
    mask(tmp_path / "m.png")
    path = _one_mask_manifest(tmp_path, "photos/*.png", tiny_settings(2))
    run = unmark("run", path, "--devices", "cpu", "--threads", "1")
    assert run.exit_code == 0, run.output
    status = unmark("status", path)
    lines = status.stdout.strip().splitlines()
    assert len(lines) == 3 and "a\\nb.png" in status.stdout, status.stdout


def test_steps_true_is_refused_not_taken_as_one_step(tmp_path):
    photo(tmp_path / "photos" / "a.png")
    mask(tmp_path / "m.png")
    path = _one_mask_manifest(tmp_path, "photos/*.png", "{preset: fast, steps: true}")
    run = unmark("validate", path)
    assert run.exit_code == 2, run.output
    assert "settings.steps: input should be a valid integer" in run.stderr


def test_remove_takes_threads_and_gives_the_same_pixels(tmp_path):
    image, hole = photo(tmp_path / "a.png"), mask(tmp_path / "m.png")
    one = unmark("remove", image, "--mask", hole, "-o", tmp_path / "one.png", "--threads", "1",
                 *FAST)
    default = unmark("remove", image, "--mask", hole, "-o", tmp_path / "default.png", *FAST)
    assert one.exit_code == 0 and default.exit_code == 0, one.stderr + default.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")),
                          np.asarray(Image.open(tmp_path / "default.png")))


def test_the_jpeg_note_only_when_a_job_wrote_one_now(tmp_path):
    photo(tmp_path / "photos" / "a.jpg")
    mask(tmp_path / "m.png")
    path = _one_mask_manifest(tmp_path, "photos/*.jpg", tiny_settings(2))
    first = unmark("run", path, "--devices", "cpu", "--threads", "1")
    assert first.exit_code == 0 and "re-encodes" in first.stderr, first.output
    again = unmark("run", path, "--devices", "cpu", "--threads", "1")
    assert again.exit_code == 0 and "re-encodes" not in again.stderr, again.output


def test_template_auto_failures_name_the_entry_not_a_temp_file(tmp_path):
    for index in range(3):
        photo(tmp_path / "photos" / f"p{index}.png", seed=index)  # no mark to learn or find
    path = manifest(tmp_path, f"""
        version: 1
        output: out
        settings: {tiny_settings(2)}
        jobs:
          - images: photos/*.png
            template: auto
    """)
    run = unmark("run", path, "--devices", "cpu", "--threads", "1")
    assert run.exit_code == 1, run.output
    assert "template: auto" in run.stderr and "entry0-" not in run.stderr, run.stderr
