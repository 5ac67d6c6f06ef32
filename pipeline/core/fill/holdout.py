"""Known pixels held out of the fit to score it: the hole, shifted onto pixels whose truth is
known. Every choice made without ground truth (when to stop, how to mix fills) is made on them."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

HOLDOUT_SHIFTS = (6, 12, 24, 48)
MIN_HELD_OUT = 16


def held_out(unknown: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Known pixels shaped like the hole: the hole shifted to where the pixels are known, clear of
    the hole's edge. Of the shifts tried, the one that holds out the most pixels wins."""
    near_hole = ndimage.binary_dilation(unknown, iterations=2)
    allowed = inside & ~near_hole
    best, best_count = None, 0
    for distance in HOLDOUT_SHIFTS:
        for dy, dx in ((distance, 0), (-distance, 0), (0, distance), (0, -distance)):
            shifted = np.roll(unknown & inside, (dy, dx), axis=(0, 1)) & allowed
            count = int(shifted.sum())
            if count > best_count:
                best, best_count = shifted, count
    if best is None or best_count < MIN_HELD_OUT:
        return None
    return best


def best_share(
    first: np.ndarray, second: np.ndarray, target: np.ndarray, holdout: np.ndarray
) -> float:
    """The weight w of `second` in (1 - w) * first + w * second that best predicts the held-out
    pixels of `target` (least squares, clipped to [0, 1])."""
    difference = (second - first)[:, holdout]
    residual = (target - first)[:, holdout]
    denominator = float((difference**2).sum())
    if denominator <= 0:
        return 0.5
    return float(np.clip((difference * residual).sum() / denominator, 0.0, 1.0))
