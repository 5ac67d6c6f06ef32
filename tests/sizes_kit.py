"""A folder of photos of two sizes carrying a corner-anchored mark at two scales, as AI image
services stamp theirs, built from the shipped samples: lossless PNG, the truth kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import SAMPLES
from PIL import Image

from pipeline.core.mark.blend import Mark
from pipeline.io.marks import load_mark

SMALL, LARGE = (160, 224), (320, 448)  # (height, width)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@dataclass(frozen=True)
class MarkedPhoto:
    path: Path
    truth: np.ndarray  # (H, W, 3) uint8: the photo before the mark
    footprint: np.ndarray  # (H, W) bool: where the mark's opacity is above zero


def scaled_logo(height: int) -> Mark:
    """The shipped logo at `height` px, its opacity quantised to 8 bits as a stamp's would be."""
    logo = load_mark(SAMPLES / "marks" / "logo-tight.png")
    size = (round(logo.size[1] * height / logo.size[0]), height)

    def resize(channel: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(channel).resize(size, Image.Resampling.BICUBIC))

    alpha = np.round(np.clip(resize(logo.alpha), 0, 1) * 255) / 255
    return Mark(alpha.astype(np.float32), np.ones((3, height, size[0]), np.float32))


def photo(name: str, size: tuple[int, int], flip: bool) -> np.ndarray:
    """A shipped clean photo covering `size` (height, width), centre-cropped; `flip` turns it
    upside down so the two sizes show different content where the mark sits."""
    image = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB")
    height, width = size
    zoom = max(height / image.height, width / image.width)
    shown = image.resize((round(image.width * zoom) + 1, round(image.height * zoom) + 1),
                         Image.Resampling.LANCZOS)
    top, left = (shown.height - height) // 2, (shown.width - width) // 2
    pixels = np.asarray(shown)[top : top + height, left : left + width]
    return pixels[::-1] if flip else pixels


def stamp(pixels: np.ndarray, mark: Mark, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The mark `margin` px from the bottom-right corner: (marked pixels, footprint)."""
    height, width = pixels.shape[:2]
    alpha = np.zeros((height, width), np.float32)
    rows = slice(height - margin - mark.size[0], height - margin)
    cols = slice(width - margin - mark.size[1], width - margin)
    alpha[rows, cols] = mark.alpha
    blend = alpha[..., None] * 1.0 + (1 - alpha[..., None]) * pixels / 255
    return (blend * 255).round().astype(np.uint8), alpha > 0


def marked_sizes(folder: Path, per_size: int = 4) -> list[MarkedPhoto]:
    """`per_size` photos of 160x224 with the logo 24 px tall 16 px from the bottom-right corner,
    and as many of 320x448 with it 48 px tall 32 px from it."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for size, height, margin, flip in ((SMALL, 24, 16, True), (LARGE, 48, 32, False)):
        mark = scaled_logo(height)
        for index in range(per_size):
            truth = photo(PHOTOS[index % len(PHOTOS)], size, flip)
            pixels, footprint = stamp(truth, mark, margin)
            path = folder / f"{size[0]}-{index}.png"
            Image.fromarray(pixels).save(path)
            made.append(MarkedPhoto(path, truth, footprint))
    return made
