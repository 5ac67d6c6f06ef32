"""Tiny inputs for the batch tests: 32x48 photos, a dark-rectangle mask, a network small enough
that a job takes a fraction of a second on one CPU thread."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 32, 48
HOLE = (slice(10, 18), slice(15, 30))
TINY_SETTINGS = (
    # fill: network - these tests are about fits the batch checkpoints and resumes
    "{preset: fast, fill: network, steps: STEPS, network: {channels_down: [8, 8], "
    "channels_up: [8, 8], channels_skip: [2, 2], input_depth: 4}}"
)


def tiny_settings(steps: int = 10, every_step: bool = False) -> str:
    """`every_step`: no early stop, so a test can interrupt the fit midway on a busy machine."""
    settings = TINY_SETTINGS.replace("STEPS", str(steps))
    return settings.replace("steps:", f"min_steps: {steps}, steps:", 1) if every_step else settings


def photo(path: Path, seed: int = 0, size: tuple[int, int] = (HEIGHT, WIDTH)) -> Path:
    """A smooth gradient plus a little noise."""
    rng = np.random.default_rng(seed)
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 5 + seed * 10, y * 7, (x + y) * 3], -1) + rng.normal(0, 8, (*size, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


def mask(path: Path, size: tuple[int, int] = (HEIGHT, WIDTH)) -> Path:
    """Black (remove) over a rectangle, white elsewhere."""
    pixels = np.full(size, 255, np.uint8)
    rows = slice(size[0] * 10 // HEIGHT, size[0] * 18 // HEIGHT)
    cols = slice(size[1] * 15 // WIDTH, size[1] * 30 // WIDTH)
    pixels[rows, cols] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def folder(root: Path, count: int, start: int = 0) -> None:
    """root/photos/pN.png with root/masks/pN.png."""
    for index in range(start, start + count):
        photo(root / "photos" / f"p{index}.png", seed=index)
        mask(root / "masks" / f"p{index}.png")


def manifest(root: Path, body: str, name: str = "batch.yaml") -> Path:
    path = root / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def standard(root: Path, count: int = 3, steps: int = 10, every_step: bool = False) -> Path:
    """A folder of `count` photos with masks, and a manifest over it writing to root/out."""
    folder(root, count)
    return manifest(root, f"""
        version: 1
        output: out
        settings: {tiny_settings(steps, every_step)}
        jobs:
          - images: photos/*.png
            mask: masks/{{stem}}.png
    """)
