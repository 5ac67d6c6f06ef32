"""Template files: an RGBA PNG (colour + opacity) in and out, and the folder `unmark estimate`
learns one from."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.learn.estimate import MIN_IMAGES
from pipeline.core.learn.estimate_sizes import Estimate, estimate_pictures
from pipeline.core.mark.blend import VISIBLE, Mark
from pipeline.errors import InputError
from pipeline.io.imaging import IMAGE_SUFFIXES, Picture, load_picture, save_picture


def load_mark(path: str | Path, channels: int = 3) -> Mark:
    """An RGBA template: colour and opacity of the mark."""
    template = load_picture(path)
    if template.alpha is None:
        raise InputError(f"{path}: a template needs an alpha channel (RGBA: colour + opacity)")
    alpha = template.alpha.astype(np.float32) / np.iinfo(template.alpha.dtype).max
    if alpha.max() < VISIBLE:
        raise InputError(f"{path}: the template is fully transparent")
    colour = template.as_float()
    if colour.shape[0] != channels:
        grey = colour.mean(axis=0, keepdims=True)
        colour = np.repeat(grey, channels, axis=0) if channels != 1 else grey
    return Mark(alpha=alpha, colour=colour)


def load_folder(folder: Path) -> list[Picture]:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(paths) < MIN_IMAGES:
        raise InputError(f"{folder}: needs at least {MIN_IMAGES} images, found {len(paths)}")
    return [load_picture(p) for p in paths]


def mark_as_rgba(mark: Mark) -> np.ndarray:
    rgba = np.concatenate([mark.colour, mark.alpha[None]], axis=0).transpose(1, 2, 0)
    return (np.clip(rgba, 0, 1) * 255).round().astype(np.uint8)


def _check_template_path(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise InputError(f"{path}: write the template as .png (it needs an alpha channel)")


def save_mark(mark: Mark, path: Path) -> Path:
    """Write the mark as a template: an RGBA PNG (colour + opacity), atomically."""
    _check_template_path(path)
    rgba = mark_as_rgba(mark)
    picture = Picture(
        pixels=np.ascontiguousarray(rgba[..., :3]),
        mode="RGB",
        alpha=np.ascontiguousarray(rgba[..., 3]),
        source=str(path),
    )
    return save_picture(picture, path)


def estimate_folder(folder: Path, output: Path) -> Estimate:
    """`unmark estimate`: the mark shared by the photos in `folder`, written to `output`: full
    size when they share one size, else its box, placed in each photo by search."""
    _check_template_path(output)  # before the long part
    estimate = estimate_pictures(load_folder(folder), str(folder))
    save_mark(estimate.mark, output)
    return estimate
