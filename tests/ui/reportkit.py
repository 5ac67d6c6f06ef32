"""A tiny batch for the report tests: a clean job, a failed job and a job whose mask misses the
rim of a high-contrast mark, so the mark's outline stays in its output (a ghost)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from batchkit import manifest, photo, tiny_settings
from PIL import Image

SIZE = (40, 64)


def mark_shape() -> np.ndarray:
    """A thick white frame: high contrast, edges on every side."""
    shape = np.zeros(SIZE, bool)
    shape[8:32, 14:50] = True
    shape[14:26, 20:44] = False
    return shape


def marked_photo(path: Path, seed: int) -> Path:
    photo(path, seed=seed, size=SIZE)
    pixels = np.asarray(Image.open(path)).copy()
    pixels[mark_shape()] = 250
    Image.fromarray(pixels).save(path)
    return path


def write_mask(path: Path, hole: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(hole, 0, 255).astype(np.uint8)).save(path)
    return path


def batch(root: Path, steps: int = 2) -> Path:
    """good: mask over the mark and 2 px around; ghost: a mask 2 px short of the mark's rim;
    failed: a template that is not in its photo."""
    shape = mark_shape().astype(np.uint8)
    kernel = np.ones((5, 5), np.uint8)
    marked_photo(root / "in" / "good.png", 1)
    write_mask(root / "in" / "good_mask.png", cv2.dilate(shape, kernel) > 0)
    marked_photo(root / "in" / "ghost.png", 2)
    write_mask(root / "in" / "ghost_mask.png", cv2.erode(shape, kernel) > 0)
    photo(root / "in" / "failed.png", seed=3, size=SIZE)
    logo = np.zeros((*SIZE, 4), np.uint8)
    logo[..., :3], logo[..., 3] = 255, np.where(mark_shape(), 200, 0)
    Image.fromarray(logo[4:36, 10:54]).save(root / "in" / "logo.png")
    return manifest(root, f"""
        version: 1
        output: out
        settings: {tiny_settings(steps)}
        jobs:
          - image: in/good.png
            mask: in/good_mask.png
          - image: in/ghost.png
            mask: in/ghost_mask.png
          - image: in/failed.png
            template: in/logo.png
    """)
