"""Where to work: split the hole into crops with context, and paste results back.

Each hole pixel is owned by exactly one Region, so the composite never writes a pixel twice, and
a crop never exceeds `max_core` plus its context: memory follows the marked area, not the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.geometry import Box


@dataclass(frozen=True)
class Region:
    crop: Box  # what the network sees, inside the image
    owned: np.ndarray  # bool (crop.height, crop.width): hole pixels this region fills
    pad: tuple[int, int]  # rows and columns of reflection padding below and right of the crop

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.crop.height + self.pad[0], self.crop.width + self.pad[1]


def _grow_to_multiple(start: int, stop: int, multiple: int, limit: int) -> tuple[int, int, int]:
    """Widen [start, stop) to a multiple of `multiple` inside [0, limit); return the padding
    still needed when the image itself is too small."""
    # at least two multiples: the network's deepest level then keeps 2 px (1 px breaks its
    # reflection padding and BatchNorm); a smaller image is padded by reflection
    want = max(2 * multiple, math.ceil((stop - start) / multiple) * multiple)
    size = min(want, limit)
    extra = size - (stop - start)
    start = max(0, start - extra // 2)
    stop = start + size
    if stop > limit:
        start, stop = limit - size, limit
    return start, stop, want - size


def _split(top: int, bottom: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(top, bottom, parts + 1).round().astype(int)
    return list(zip(edges[:-1], edges[1:], strict=True))


def find_regions(
    hole: np.ndarray,
    context: int,
    merge_gap: int,
    multiple: int,
    max_core: int = 384,
) -> list[Region]:
    """Group hole pixels closer than `merge_gap` into components, tile components larger than
    `max_core`, and give each tile `context` pixels of surroundings (grown to `multiple`)."""
    height, width = hole.shape
    grown = ndimage.binary_dilation(hole, iterations=max(1, merge_gap // 2)) if merge_gap else hole
    labels, _ = ndimage.label(grown)
    regions: list[Region] = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        # Work in the component's own box: cost follows its size, not the photo's.
        local = (labels[box] == label) & hole[box]
        if not local.any():
            continue
        oy, ox = box[0].start, box[1].start
        rows, cols = np.nonzero(local.any(axis=1))[0], np.nonzero(local.any(axis=0))[0]
        top, bottom, left, right = rows[0] + oy, rows[-1] + oy + 1, cols[0] + ox, cols[-1] + ox + 1
        for t, b in _split(top, bottom, math.ceil((bottom - top) / max_core)):
            for lft, rgt in _split(left, right, math.ceil((right - left) / max_core)):
                y0, y1, pad_y = _grow_to_multiple(
                    max(0, t - context), min(height, b + context), multiple, height
                )
                x0, x1, pad_x = _grow_to_multiple(
                    max(0, lft - context), min(width, rgt + context), multiple, width
                )
                crop = Box(int(y0), int(y1), int(x0), int(x1))
                owned = np.zeros((crop.height, crop.width), dtype=bool)
                # the tile's core, clipped to this component, in crop coordinates
                cy0, cy1 = max(t, oy), min(b, box[0].stop)
                cx0, cx1 = max(lft, ox), min(rgt, box[1].stop)
                owned[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = local[
                    cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox
                ]
                if owned.any():
                    regions.append(Region(crop=crop, owned=owned, pad=(int(pad_y), int(pad_x))))
    return regions


def pad_for_network(array: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """Reflect-pad a (C, H, W) array below and to the right."""
    pad_y, pad_x = pad
    if not (pad_y or pad_x):
        return array
    mode = "reflect" if pad_y < array.shape[1] and pad_x < array.shape[2] else "symmetric"
    return np.pad(array, ((0, 0), (0, pad_y), (0, pad_x)), mode=mode)


def paste(pixels: np.ndarray, region: Region, filled: np.ndarray) -> None:
    """Write `filled` (H, W, C, the crop's values in pixels' dtype) into the owned pixels only."""
    target = pixels[region.crop.slices]
    target[region.owned] = filled[region.owned]
