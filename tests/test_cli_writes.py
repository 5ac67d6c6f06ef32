"""Robust 3: every path unmark writes (or empties) is checked against the inputs, and refused
before anything runs when it would land on one or outside where it belongs. Each test feeds
the fault and checks the one line and that the files are as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batchkit import mask, photo, standard
from test_cli_robust import FAST, one_line, snapshot, unmark


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    return photo(tmp_path / "a.png"), mask(tmp_path / "m.png")


def test_save_mark_naming_an_input_or_the_output_is_refused(inputs, tmp_path):
    image, hole = inputs
    out = tmp_path / "o.png"
    before = snapshot(image, hole)
    for target, role in ((image, "image"), (hole, "mask"), (out, "output")):
        run = unmark("remove", image, "--mask", hole, "-o", out, "--separate",
                     "--save-mark", target, *FAST)
        one_line(run, 2, f"refusing to overwrite the input {role}")
        assert not out.exists()
    assert snapshot(image, hole) == before


def test_save_mark_that_is_not_png_is_refused_before_the_output_is_written(inputs, tmp_path):
    image, hole = inputs
    run = unmark("remove", image, "--mask", hole, "-o", tmp_path / "o.png", "--separate",
                 "--save-mark", tmp_path / "out" / "mark.jpg", *FAST)
    one_line(run, 2, "mark.jpg: write the estimated mark as .png")
    assert not (tmp_path / "o.png").exists()


def test_snapshots_that_would_overwrite_an_input_are_refused(tmp_path):
    image = photo(tmp_path / "o.step00001.png")  # named like the first snapshot of o.png
    hole = mask(tmp_path / "m.png")
    before = snapshot(image, hole)
    run = unmark("remove", image, "--mask", hole, "-o", tmp_path / "out" / "o.png",
                 "--snapshots", tmp_path, "--snapshot-every", "1", *FAST)
    one_line(run, 2, "a snapshot in")
    assert snapshot(image, hole) == before and not (tmp_path / "out" / "o.png").exists()


def test_estimate_onto_one_of_its_photos_is_refused(tmp_path):
    for index in range(3):
        photo(tmp_path / "photos" / f"p{index}.png", seed=index)
    before = snapshot(*sorted((tmp_path / "photos").iterdir()))
    run = unmark("estimate", tmp_path / "photos", "-o", tmp_path / "photos" / "p0.png")
    one_line(run, 2, "refusing to overwrite the input photo")
    assert snapshot(*sorted((tmp_path / "photos").iterdir())) == before


def test_report_onto_an_input_the_manifest_or_a_folder_is_refused(tmp_path):
    path = standard(tmp_path, count=1)
    photo_path = tmp_path / "photos" / "p0.png"
    before = snapshot(path, photo_path)
    for target, text in ((photo_path, "name ending in .html"),
                         (path, "name ending in .html"),
                         (tmp_path / "photos", "is a folder")):
        one_line(unmark("report", path, "-o", target), 2, text)
    (tmp_path / "same.html").symlink_to(path)  # an .html name that is the manifest itself
    one_line(unmark("report", path, "-o", tmp_path / "same.html"), 2,
             "refusing to overwrite the input manifest")
    assert snapshot(path, photo_path) == before
    assert not [p for p in tmp_path.rglob("*partial*")]


def test_report_that_cannot_be_written_fails(tmp_path):
    path = standard(tmp_path, count=1)
    state = tmp_path / "out" / ".unmark"
    state.mkdir(parents=True)
    (state / "report.html").mkdir()  # a folder where the page goes
    run = unmark("report", path)
    assert run.exit_code == 2 and "report.html" in run.stderr, run.output
    assert not [p for p in tmp_path.rglob("*partial*")]


def test_a_symlinked_state_folder_is_refused_and_left_alone(tmp_path):
    path = standard(tmp_path, count=1, steps=2)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "tmp").mkdir(parents=True)
    (elsewhere / "tmp" / "keep.txt").write_text("not unmark's")
    (tmp_path / "out").mkdir()
    os.symlink(elsewhere, tmp_path / "out" / ".unmark")
    for command in ("run", "report"):
        run = unmark(command, path, *(("--devices", "cpu") if command == "run" else ()))
        one_line(run, 2, ".unmark: is a symlink")
    assert (elsewhere / "tmp" / "keep.txt").read_text() == "not unmark's"
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["keep.txt", "tmp"]
    assert not (tmp_path / "out" / "p0.png").exists()


def test_a_killed_removes_partial_file_is_cleaned_by_the_next_run(inputs, tmp_path):
    image, hole = inputs
    (tmp_path / "out").mkdir()
    left = tmp_path / "out" / ".o.k3x9_a.partial.png"  # what a kill -9 inside the write leaves
    left.write_bytes(b"\x89PNG half")
    other = tmp_path / "out" / ".other.k3x9_a.partial.png"  # another output's: not ours
    other.write_bytes(b"x")
    run = unmark("remove", image, "--mask", hole, "-o", tmp_path / "out" / "o.png", *FAST)
    assert run.exit_code == 0, run.stderr
    assert not left.exists() and other.exists() and (tmp_path / "out" / "o.png").is_file()
