"""A painted mask that misses the mark's rim: grow the hole over it before filling.

A hand-painted mask hugs the letters and leaves their anti-aliased edge, bevel or outline just
outside. Any fill continues that rim into the hole and draws the letters again. A rim pixel is a
blend of the photo around it and the mark inside the hole next to it: its brightness lies between
the two, and farther from the photo's than the photo's own texture there ever strays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

RIM = 2.5  # px beyond the painted hole searched for the rim
AROUND = (3.5, 9.0)  # px: the ring that says what the photo next to the rim looks like
SPREAD = 4.0  # local std of the photo's texture (from AROUND) a rim pixel must stray beyond
LEAST = 0.05  # ... and at least this far from the photo (0-1 brightness)
BETWEEN = (0.2, 1.3)  # where between photo (0) and mark (1) a rim pixel lies
CONTRAST = 0.1  # mark and photo must differ at least this much for a pixel to be judged
LOCAL = 4.0  # px: the Gaussian over which the photo's level and texture are taken
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class GrownHole:
    hole: np.ndarray  # (H, W) bool: the painted hole and the rim found around it
    added: int  # pixels added


def grow_over_rim(image: np.ndarray, hole: np.ndarray) -> GrownHole:
    """`hole` (H, W) bool grown over a leftover rim of the mark in `image` (C, H, W floats)."""
    if not hole.any() or hole.all():
        return GrownHole(hole, 0)
    rows, cols = _box(hole, int(AROUND[1]) + 8)
    grey = _grey(image[:, rows, cols])
    local_hole = hole[rows, cols]
    distance, nearest = ndimage.distance_transform_edt(~local_hole, return_indices=True)
    around = ((distance >= AROUND[0]) & (distance <= AROUND[1])).astype(np.float32)
    support = np.maximum(ndimage.gaussian_filter(around, LOCAL), 1e-6)
    photo = ndimage.gaussian_filter(grey * around, LOCAL) / support
    texture = np.sqrt(np.maximum(
        ndimage.gaussian_filter((grey - photo) ** 2 * around, LOCAL) / support, 0))
    mark = grey[nearest[0], nearest[1]]
    contrast = mark - photo
    share = (grey - photo) / np.where(np.abs(contrast) > 1e-6, contrast, 1e-6)
    rim = ((distance > 0) & (distance <= RIM) & (support > 0.05)
           & (np.abs(contrast) >= CONTRAST)
           & (np.abs(grey - photo) > np.maximum(SPREAD * texture, LEAST))
           & (share >= BETWEEN[0]) & (share <= BETWEEN[1]))
    if not rim.any():
        return GrownHole(hole, 0)
    reach = ndimage.maximum_filter(np.where(rim, distance, 0), size=3)
    grown = hole.copy()
    grown[rows, cols] |= (distance > 0) & (distance <= reach)
    return GrownHole(grown, int(grown.sum() - hole.sum()))


def _grey(image: np.ndarray) -> np.ndarray:
    grey = image[0] if image.shape[0] == 1 else np.tensordot(LUMA, image[:3], axes=1)
    return grey.astype(np.float32)


def _box(hole: np.ndarray, margin: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(hole)
    return (slice(max(0, ys.min() - margin), ys.max() + margin + 1),
            slice(max(0, xs.min() - margin), xs.max() + margin + 1))
