"""Holes too large for their crops: the deep inside of the hole filled first, on a small copy.

A crop sees its hole and `context` pixels around it. Deep inside a large hole (a banner, a 30%
overlay) a crop holds no known pixel at all, and no fill can start from nothing. Such pixels are
filled on the whole photo shrunk to COARSE_SIDE, where every crop reaches the hole's border,
scaled back up, and then count as known for the full-size pass, which fills the band along the
border with full detail. The deep inside is as smooth as a fill from that far can be.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.picture import Picture

COARSE_SIDE = 512  # the small copy's longest side
SMALLEST = 1.25 * COARSE_SIDE  # photos up to this side have no coarse pass: their crops suffice
DEEPER = 128  # px beyond a crop's context: a tile is at least this far from its crop's edge
FillSmall = Callable[[Picture, np.ndarray], Picture]


def deep_inside(hole: np.ndarray, context: int) -> np.ndarray | None:
    """(H, W) bool: hole pixels farther than `context` + DEEPER px from every known pixel, or
    None when there are none (or the photo is small). Measured on blocks, so a huge photo costs
    a small array."""
    if max(hole.shape) <= SMALLEST:
        return None
    reach = context + DEEPER
    rows, cols = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
    if not len(rows):
        return None
    # only the hole's box is measured (no block copy of a huge photo): past the box the pixels
    # are known, past the photo's edge they are not
    block = max(1, reach // 4)
    top, left = rows[0] // block * block, cols[0] // block * block  # on the photo's block grid
    bottom, right = rows[-1] + 1, cols[-1] + 1
    local = hole[top:bottom, left:right]
    height, width = local.shape
    blocks_y, blocks_x = -(-height // block), -(-width // block)
    at_edge = (top == 0, bottom == hole.shape[0], left == 0, right == hole.shape[1])
    padded = np.zeros((blocks_y * block + 2 * block, blocks_x * block + 2 * block), dtype=bool)
    padded[:block], padded[:, :block] = at_edge[0], at_edge[2]
    padded[block + height:], padded[:, block + width:] = at_edge[1], at_edge[3]
    padded[block:block + height, block:block + width] = local
    full = padded.reshape(blocks_y + 2, block, blocks_x + 2, block).all(axis=(1, 3))
    deep = ndimage.distance_transform_edt(full)[1:-1, 1:-1] * block > reach + block
    if not deep.any():
        return None
    grown = np.zeros_like(hole)
    grown[top:bottom, left:right] = np.repeat(np.repeat(deep, block, axis=0), block,
                                              axis=1)[:height, :width]
    return grown & hole


def prefill(picture: Picture, hole: np.ndarray, deep: np.ndarray, fill_small: FillSmall
            ) -> Picture:
    """`picture` with its `deep` pixels filled by `fill_small` on a copy shrunk to COARSE_SIDE."""
    height, width = picture.size
    scale = COARSE_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    channels = [Image.fromarray(picture.pixels[..., c]) for c in range(picture.pixels.shape[2])]
    small = np.stack([np.asarray(c.resize(size, Image.Resampling.BOX)) for c in channels], -1)
    small_hole = np.asarray(Image.fromarray(hole.astype(np.uint8) * 255)
                            .resize(size, Image.Resampling.BOX)) > 0
    filled = fill_small(picture.with_pixels(small), small_hole).pixels
    pixels = picture.pixels.copy()
    for c in range(pixels.shape[2]):
        up = np.asarray(Image.fromarray(filled[..., c]).resize((width, height),
                                                                 Image.Resampling.BICUBIC))
        pixels[..., c][deep] = up[deep]
    return picture.with_pixels(pixels)
