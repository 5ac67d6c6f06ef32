"""Exemplar fill: the hole filled with patches copied from the known pixels (PatchMatch, Barnes et
al. 2009, through `pypatchmatch`). It carries real texture, at the price of seams and the odd
misplaced patch; the texture stage keeps its detail and takes the broad shapes from elsewhere."""

from __future__ import annotations

import numpy as np
from patchmatch import patch_match

PATCH_RADIUS = 3  # 7x7 patches: the best of radius 3 and 7 on ../shared/data/gt (bench)


def exemplar_fill(
    image: np.ndarray, unknown: np.ndarray, seed: int, ignore: np.ndarray | None = None
) -> np.ndarray:
    """(C, H, W) floats in [0, 1] with `unknown` (H, W) filled from the other pixels. `ignore`
    marks pixels that are neither filled nor copied from (padding). Same seed, same fill."""
    channels = image.shape[0]
    rgb = image if channels == 3 else np.repeat(image[:1], 3, axis=0)
    pixels = (np.clip(rgb, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    patch_match.set_random_seed(seed)
    hole = unknown.astype(np.uint8) * 255
    if ignore is not None and ignore.any():
        filled = patch_match.inpaint(
            pixels, hole, global_mask=ignore.astype(np.uint8) * 255, patch_size=PATCH_RADIUS
        )
    else:
        filled = patch_match.inpaint(pixels, hole, patch_size=PATCH_RADIUS)
    out = filled.astype(np.float32).transpose(2, 0, 1) / 255
    # 8-bit exemplars: keep the source's own values where the hole is not
    out = np.where(unknown[None], out, rgb)
    return out if channels == 3 else out.mean(axis=0, keepdims=True)
