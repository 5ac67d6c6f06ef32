"""The photo as the pipeline holds it: its own channels and bit depth, so that pixels the pipeline
does not touch are written back exactly as they were read. Decoding and encoding live in io/."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Picture:
    """A decoded photo: colour channels (H, W, C) in their own dtype, plus untouched extras."""

    pixels: np.ndarray  # uint8 or uint16; C = 1 (grey), 3 (RGB) or 4 (CMYK)
    mode: str  # "L", "RGB" or "CMYK": how the colour channels are written back
    alpha: np.ndarray | None = None  # (H, W), same dtype as pixels, never modified
    icc_profile: bytes | None = None
    exif: bytes | None = None
    source: str = ""
    lossy: bool = False  # decoded from a lossy format (JPEG, WebP): its pixels carry noise
    chroma: tuple[int, int] = (1, 1)  # one colour kept per (rows, cols) block (4:2:0: (2, 2))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.pixels.shape[0], self.pixels.shape[1]

    @property
    def max_value(self) -> int:
        return int(np.iinfo(self.pixels.dtype).max)

    def as_float(self) -> np.ndarray:
        """Colour channels as float32 in [0, 1], shape (C, H, W)."""
        return (self.pixels.astype(np.float32) / self.max_value).transpose(2, 0, 1)

    def with_pixels(self, pixels: np.ndarray) -> Picture:
        return replace(self, pixels=pixels)
