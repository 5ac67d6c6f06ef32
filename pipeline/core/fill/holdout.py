"""Known pixels held out of the fit to score it: the hole, shifted onto pixels whose truth is
known. Every choice made without ground truth (when to stop, how to mix fills) is made on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

HOLDOUT_SHIFTS = (6, 12, 24, 48)
BEYOND_EVIDENCE = max(HOLDOUT_SHIFTS)  # px into a hole past which held-out pixels tell nothing
SPREAD_ONLY = 2 * BEYOND_EVIDENCE  # px into a hole past which the classic mix is the spread fill
MIN_HELD_OUT = 16


@dataclass(frozen=True)
class HeldOut:
    """Known pixels shaped like the hole, and the shift (rows, columns) that took it there."""

    pixels: np.ndarray  # (H, W) bool
    shift: tuple[int, int]


def _shifted_holes(unknown: np.ndarray, inside: np.ndarray
                   ) -> list[tuple[int, HeldOut, int]]:
    """Every shift tried: (axis 0 vertical or 1 horizontal, the held-out pixels, their count)."""
    near_hole = ndimage.binary_dilation(unknown, iterations=2)
    allowed = inside & ~near_hole
    tried = []
    for distance in HOLDOUT_SHIFTS:
        for dy, dx in ((distance, 0), (-distance, 0), (0, distance), (0, -distance)):
            shifted = np.roll(unknown & inside, (dy, dx), axis=(0, 1)) & allowed
            tried.append((0 if dx == 0 else 1, HeldOut(shifted, (dy, dx)), int(shifted.sum())))
    return tried


def held_out(unknown: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Known pixels shaped like the hole: the hole shifted to where the pixels are known, clear of
    the hole's edge. Of the shifts tried, the one that holds out the most pixels wins."""
    best, best_count = None, 0
    for _, found, count in _shifted_holes(unknown, inside):
        if count > best_count:
            best, best_count = found.pixels, count
    return best if best_count >= MIN_HELD_OUT else None


def held_out_both_ways(unknown: np.ndarray, inside: np.ndarray) -> list[HeldOut]:
    """The best held-out pixels of a vertical shift and of a horizontal one, the better first
    (either left out where it holds out too few): two looks at how each fill does near here."""
    best: dict[int, tuple[int, HeldOut]] = {}
    for axis, found, count in _shifted_holes(unknown, inside):
        if count >= MIN_HELD_OUT and count > best.get(axis, (0, None))[0]:
            best[axis] = (count, found)
    return [found for _, found in sorted(best.values(), key=lambda pair: -pair[0])]


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
