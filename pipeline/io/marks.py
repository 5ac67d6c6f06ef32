"""Template files: an RGBA PNG (colour + opacity) in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.mark.blend import VISIBLE, Mark
from pipeline.errors import InputError
from pipeline.io.imaging import load_picture, save_picture
from pipeline.picture import Picture


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


def mark_as_rgba(mark: Mark) -> np.ndarray:
    rgba = np.concatenate([mark.colour, mark.alpha[None]], axis=0).transpose(1, 2, 0)
    return (np.clip(rgba, 0, 1) * 255).round().astype(np.uint8)


def check_template_path(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise InputError(f"{path}: write the template as .png (it needs an alpha channel)")


def save_mark(mark: Mark, path: Path) -> Path:
    """Write the mark as a template: an RGBA PNG (colour + opacity), atomically."""
    check_template_path(path)
    rgba = mark_as_rgba(mark)
    picture = Picture(
        pixels=np.ascontiguousarray(rgba[..., :3]),
        mode="RGB",
        alpha=np.ascontiguousarray(rgba[..., 3]),
        source=str(path),
    )
    return save_picture(picture, path)
