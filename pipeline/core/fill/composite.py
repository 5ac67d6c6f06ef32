"""A filled hole back into its picture, and the checks a hole gets before any filling."""

from __future__ import annotations

import numpy as np

from pipeline.errors import InputError, warn
from pipeline.picture import Picture

FULL_COVER = 0.98  # above this share of the image masked, nothing is left to learn from
LOOKS_INVERTED = 0.5


def check_hole(hole: np.ndarray, source: str) -> None:
    share = float(hole.mean())
    if share >= FULL_COVER:
        raise InputError(
            f"{source}: the mask covers {share:.0%} of the image; nothing is left to fill from "
            "(is it inverted? try --invert-mask)"
        )
    if share > LOOKS_INVERTED:
        warn(
            f"{source}: the mask covers {share:.0%} of the image; if black should mean keep, "
            "pass --invert-mask"
        )


def quantize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(C, H, W) floats in [0, 1] -> (H, W, C) integers of `dtype`."""
    top = np.iinfo(dtype).max
    return (np.clip(values, 0, 1).transpose(1, 2, 0) * top).round().astype(dtype)


def composite(picture: Picture, hole: np.ndarray, values: np.ndarray) -> Picture:
    """The picture with its hole pixels replaced by `values` (C, H, W floats); no other pixel
    is touched, so lossless outputs keep them bit for bit."""
    pixels = picture.pixels.copy()
    pixels[hole] = quantize(values, pixels.dtype)[hole]
    return picture.with_pixels(pixels)
