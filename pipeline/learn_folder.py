"""`unmark estimate` end to end: a folder of photos that carry the same mark in, the mark learnt
from them (core/learn/) out, written as an RGBA template."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.learn.estimate import MIN_IMAGES
from pipeline.core.learn.estimate_sizes import Estimate, estimate_pictures
from pipeline.errors import InputError
from pipeline.io.imaging import IMAGE_SUFFIXES, load_picture
from pipeline.io.marks import check_template_path, save_mark
from pipeline.io.paths import check_not_an_input, check_output
from pipeline.picture import Picture


def folder_photos(folder: Path) -> list[Path]:
    """The photos in `folder`, by name; at least MIN_IMAGES of them."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(paths) < MIN_IMAGES:
        raise InputError(f"{folder}: needs at least {MIN_IMAGES} images, found {len(paths)}")
    return paths


def load_folder(folder: Path) -> list[Picture]:
    """The photos in `folder`, decoded."""
    return [load_picture(p) for p in folder_photos(folder)]


def estimate_folder(folder: Path, output: Path) -> Estimate:
    """`unmark estimate`: the mark shared by the photos in `folder`, written to `output`: full
    size when they share one size, else its box, placed in each photo by search."""
    check_template_path(output)  # before the long part
    photos = folder_photos(folder)
    check_not_an_input(output, [("photo", photo) for photo in photos])
    check_output(output)
    estimate = estimate_pictures([load_picture(p) for p in photos], str(folder))
    save_mark(estimate.mark, output)
    return estimate
