"""The mark's opacity and colour from pixel pairs that straddle its edge.

A pixel just outside the mark shows the photo B_out; one a few px inside shows
a W + (1 - a) B_in. Over many such pairs, inside = a W + (1 - a) outside, up to the photo's
change between the two (B_in - B_out), which is noise in *both* coordinates. Ordinary least
squares would read it as noise in one and flatten the slope (regression to the mean: the gt
cases' true opacity 0.447 came out 0.49-0.63); Deming's regression, with the noise ratio the
model implies ((1 - a)^2), came out 0.447-0.457 from the true edge, and pairs that the model
does not explain (a photo edge along the mark's) are trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
SPANS = (2, 3)  # px between the pair's two pixels: both clear of the antialiased rim
MIN_PAIRS = 50
TRIM = 2.5  # robust z-score beyond which a pair is left out
ROUNDS = 4


@dataclass(frozen=True)
class EdgePairs:
    """Pixels (C, N) just outside the mark and their partners inside it."""

    outside: np.ndarray
    inside: np.ndarray


@dataclass(frozen=True)
class FlatMark:
    """A mark of one colour at one opacity: what the pixel pairs across its edge can tell."""

    opacity: float
    colour: np.ndarray  # (C,)


def edge_pairs(image: np.ndarray, marked: np.ndarray) -> EdgePairs:
    """Pairs (outside, inside) across the edge of `marked`, each side at least 1 px from it."""
    clear_outside = ~ndimage.binary_dilation(marked, iterations=1)
    clear_inside = ndimage.binary_erosion(marked, iterations=1)
    height, width = marked.shape
    rows, cols = np.nonzero(clear_outside)
    outside, inside = [], []
    for dy, dx in DIRECTIONS:
        for span in SPANS:
            to_rows, to_cols = rows + dy * span, cols + dx * span
            valid = (to_rows >= 0) & (to_rows < height) & (to_cols >= 0) & (to_cols < width)
            hit = np.zeros_like(valid)
            hit[valid] = clear_inside[to_rows[valid], to_cols[valid]]
            outside.append(image[:, rows[hit], cols[hit]])
            inside.append(image[:, to_rows[hit], to_cols[hit]])
    return EdgePairs(np.concatenate(outside, axis=1), np.concatenate(inside, axis=1))


def _deming(outside: np.ndarray, inside: np.ndarray) -> FlatMark:
    """inside = k + s * outside per channel, one slope s = 1 - a, noise ratio (1 - a)^2."""
    centred_out = outside - outside.mean(axis=1, keepdims=True)
    centred_in = inside - inside.mean(axis=1, keepdims=True)
    sxx = float((centred_out**2).sum())
    syy = float((centred_in**2).sum())
    sxy = float((centred_out * centred_in).sum())
    slope = 0.5
    if sxy <= 0:
        return FlatMark(0.0, inside.mean(axis=1))
    for _ in range(5):  # the noise ratio depends on the slope: a few fixed-point steps
        ratio = slope**2
        slope = (syy - ratio * sxx + np.sqrt((syy - ratio * sxx) ** 2 + 4 * ratio * sxy**2)) / (
            2 * sxy)
    opacity = 1 - slope
    offset = inside.mean(axis=1) - slope * outside.mean(axis=1)
    return FlatMark(float(opacity), offset / max(opacity, 1e-3))


def fit_blend(pairs: EdgePairs) -> FlatMark | None:
    """The opacity and colour that best explain the pairs, or None when they are too few or
    the answer is not a mark (opacity outside (0, 1), colour far outside [0, 1])."""
    keep = np.ones(pairs.outside.shape[1], dtype=bool)
    if keep.sum() < MIN_PAIRS:
        return None
    for _ in range(ROUNDS):
        fit = _deming(pairs.outside[:, keep], pairs.inside[:, keep])
        predicted = fit.opacity * fit.colour[:, None] + (1 - fit.opacity) * pairs.outside
        residual = (pairs.inside - predicted).mean(axis=0)
        spread = 1.4826 * np.median(np.abs(residual[keep])) + 1e-6
        keep = np.abs(residual) < TRIM * spread
        if keep.sum() < MIN_PAIRS:
            return None
    fit = _deming(pairs.outside[:, keep], pairs.inside[:, keep])
    if not 0.02 < fit.opacity < 0.95 or np.any((fit.colour < -0.05) | (fit.colour > 1.05)):
        return None
    return FlatMark(fit.opacity, np.clip(fit.colour, 0, 1).astype(np.float32))
