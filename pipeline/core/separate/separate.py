"""Mask mode for translucent marks: the painted area says "the mark is somewhere in here", not
"throw these pixels away". Inside it, the mark's colour and matte (opacity per pixel) are
estimated from the one image, so template mode's blend model (core/mark/blend.py) can give back the
photo that shows through; an opaque mark is left to the regular inpainting.

The estimate, single image:
- a first guess: B, the photo under the mask, by a biharmonic fill from the ring around it; the
  colour W as a robust extreme of the pixels the mark moves most (brightest when it brightens,
  darkest when it darkens); the body's opacity a0 as the median least-squares opacity;
- which pixels carry the mark: a minimum cut that makes the un-blended photo's jumps smallest
  (coverage.py);
- a0 and W again, from pixel pairs across the cover's edge (boundary_fit.py), then the cut
  again, until they settle; from a few starting opacities, keeping the lowest-energy answer;
- the matte's soft edge (antialiasing) from the least squares against B refilled across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.fill.structure import classic_fill
from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import VISIBLE, Mark, closed_form
from pipeline.core.separate.boundary_fit import FlatMark, edge_pairs, fit_blend
from pipeline.core.separate.coverage import Cover, mark_cover

MARGIN = 8  # px of known ring around the mask's box used to guess the photo under it
STRONG = 0.7  # quantile of |J - B|: the pixels the mark moves most set its colour and polarity
GREY_SPREAD = 0.06  # channels of the colour closer than this: a grey mark (white, black, grey)
ROUNDS = 4  # rounds of cut -> re-fit opacity and colour
SETTLED = 0.005  # opacity and colour moved less than this in a round: stop
LOW_STARTS = (0.25, 0.45)  # starting opacities tried beside the first guess
EDGE = 2  # px either side of the matte's edge where the opacity is worked out per pixel
# Routing: above this mean opacity nothing useful shows through (an opaque mark), and with fewer
# marked pixels than this share of the mask there is no mark to separate: inpaint instead.
# A mask painted on a photo without a mark also "finds" one (the cut follows photo edges): the
# mark must cover a good share of its mask and un-blending must bring its pixels much closer to
# the fill than they were. Per mask region (gt photos, the shipped logo on four samples): marked
# 0.47-0.72 covered, clean ones that passed the gain at most 0.36 (barbara's scarf, 0.40 gain);
# mask_route also asks un-blending to take the matte's edges away.
MAX_OPACITY = 0.9
MIN_FOOTPRINT = 0.40
MIN_GAIN = 0.35
MIN_CONTRAST = 0.02  # |W - B| below this: the mark cannot be told from the photo


@dataclass(frozen=True)
class Separation:
    """The mark estimated inside a mask, full size (opacity 0 outside the mask)."""

    mark: Mark
    opacity: float  # mean opacity over the pixels the mark covers (0 when none)
    covered: float  # share of the mask's pixels the mark covers
    gain: float = 0.0  # how much closer to the fill un-blending brings the covered pixels

    @property
    def separable(self) -> bool:
        """Worth un-blending: the mark is there and the photo shows through it."""
        return (self.covered >= MIN_FOOTPRINT and self.gain >= MIN_GAIN
                and self.opacity <= MAX_OPACITY)


def least_squares_alpha(image: np.ndarray, under: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per pixel, the opacity a that best explains image - under = a (colour - under) over the
    channels, clipped to [0, 1]."""
    towards = colour - under
    alpha = ((image - under) * towards).sum(axis=0) / ((towards**2).sum(axis=0) + 1e-3)
    return np.clip(alpha, 0, 1).astype(np.float32)


def one_colour(alpha: np.ndarray, colour: np.ndarray) -> Mark:
    """A mark of one colour (C, 1, 1) painted with the matte `alpha` (H, W)."""
    return Mark(alpha, np.broadcast_to(colour, (colour.shape[0], *alpha.shape)))


def estimate_colour(image: np.ndarray, under: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The mark's colour (C,): an extreme of the pixels it moves most, grey when the channels
    agree. A brightening mark is at least as bright as what it covers, a darkening one at most."""
    moved = (image - under).mean(axis=0)
    strong = hole & (np.abs(moved) >= np.quantile(np.abs(moved[hole]), STRONG))
    brightens = np.median(moved[strong]) >= 0
    colour = np.quantile(image[:, strong], 0.99 if brightens else 0.01, axis=1)
    if np.ptp(colour) < GREY_SPREAD:
        colour = np.full_like(colour, colour.mean())
    return colour.astype(np.float32)


def estimate_opacity(image: np.ndarray, under: np.ndarray, colour: np.ndarray,
                     hole: np.ndarray) -> float:
    """The opacity of the mark's body: the median least-squares opacity of its clearly marked
    pixels (median-filtered: the fill's error is noise at pixel scale)."""
    alpha = ndimage.median_filter(least_squares_alpha(image, under, colour) * hole, 5)
    body = hole & (alpha >= 0.5 * np.quantile(alpha[hole], 0.9))
    return float(np.median(alpha[body])) if body.any() else 0.0


@dataclass(frozen=True)
class FittedCover:
    """A flat mark (its colour, its body's opacity) and the pixels it covers."""

    mark: FlatMark
    cover: Cover


def _grey(colour: np.ndarray) -> np.ndarray:
    if np.ptp(colour) < GREY_SPREAD:
        return np.full_like(colour, colour.mean())
    return colour


def refine(image: np.ndarray, hole: np.ndarray, opacity: float, colour: np.ndarray) -> FittedCover:
    """From a first guess: cut the cover, re-fit opacity and colour on pixel pairs across its
    edge, and again, until they settle."""
    for _ in range(ROUNDS):
        cover = mark_cover(image, hole, opacity, colour)
        fit = fit_blend(edge_pairs(image, cover.marked))
        if fit is None:  # opacity and colour stand: the last cut is the answer
            return FittedCover(FlatMark(opacity, colour.ravel()), cover)
        settled = (abs(fit.opacity - opacity) < SETTLED
                   and np.abs(_grey(fit.colour) - colour.ravel()).max() < SETTLED)
        opacity, colour = fit.opacity, _grey(fit.colour)[:, None, None]
        if settled:
            break
    return FittedCover(FlatMark(opacity, colour.ravel()), mark_cover(image, hole, opacity, colour))


def best_model(image: np.ndarray, hole: np.ndarray, opacity: float,
               colour: np.ndarray) -> FittedCover:
    """The refined model with the lowest cut energy over a few starts: opacities (one far above
    the truth can settle on a wrong cover: f16 from 0.63 settled at 0.83) and colours (the
    guess, and pure white or black: over a dark photo the brightest marked pixel is far from
    the mark's white; a real stock preview's letters went from 0.64 to 0.06 left)."""
    extreme = np.full_like(colour, 1.0 if colour.mean() >= 0.5 else 0.0)
    starts = sorted({round(opacity, 3), *LOW_STARTS})
    models = [refine(image, hole, start, paint) for start in starts for paint in (colour, extreme)]
    return min(models, key=lambda model: model.cover.energy)


def _edge(marked: np.ndarray, width: int) -> np.ndarray:
    return (ndimage.binary_dilation(marked, iterations=width)
            & ~ndimage.binary_erosion(marked, iterations=width))


def matte(image: np.ndarray, hole: np.ndarray, marked: np.ndarray, opacity: float,
          colour: np.ndarray) -> np.ndarray:
    """The opacity per pixel: the body's opacity inside, 0 outside, and across the edge the
    least squares against the photo refilled from both sides of it."""
    edge = _edge(marked, EDGE) & hole
    body = closed_form(image, one_colour(np.full(hole.shape, opacity, np.float32), colour))
    values = np.where(marked[None], body, image)
    under = classic_fill(values, edge)
    soft = np.minimum(least_squares_alpha(image, under, colour), opacity * 1.1)
    alpha = np.where(edge, soft, opacity * marked) * hole
    return alpha.astype(np.float32)


def separate(image: np.ndarray, hole: np.ndarray) -> Separation:
    """Estimate the mark inside `hole` (bool H x W) of `image` ((C, H, W) floats in [0, 1])."""
    channels, height, width = image.shape
    empty = Separation(Mark(np.zeros((height, width), np.float32),
                            np.zeros((channels, height, width), np.float32)), 0.0, 0.0)
    if not hole.any() or hole.all():
        return empty
    box = box_around(hole, MARGIN)
    local, inside = box.cut(image).astype(np.float32), box.cut(hole)
    under = classic_fill(local, inside)
    colour = estimate_colour(local, under, inside)
    contrast = np.sqrt(((colour[:, None, None] - under) ** 2).sum(axis=0))
    if np.median(contrast[inside]) < MIN_CONTRAST:
        return empty
    opacity = estimate_opacity(local, under, colour[:, None, None], inside)
    alpha = np.zeros((height, width), np.float32)
    if opacity > MAX_OPACITY:  # nothing shows through: the mask is the mark, inpaint it
        alpha[hole] = opacity
    else:
        model = best_model(local, inside, opacity, colour[:, None, None])
        opacity, colour = model.mark.opacity, model.mark.colour
        alpha[box.slices] = matte(local, inside, model.cover.marked, opacity,
                                  colour[:, None, None])
    footprint = alpha > VISIBLE
    mean = float(alpha[footprint].mean()) if footprint.any() else 0.0
    paint = np.broadcast_to(colour[:, None, None], image.shape).astype(np.float32)
    gain = _gain(local, under, box.cut(alpha), colour[:, None, None])
    return Separation(Mark(alpha, np.ascontiguousarray(paint)), mean,
                      float(footprint.sum() / hole.sum()), gain)


def _gain(image: np.ndarray, under: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> float:
    """1 - (distance to the fill once un-blended) / (distance as observed), on the mark."""
    footprint = alpha > VISIBLE
    if not footprint.any():
        return 0.0
    before = np.abs(image - under)[:, footprint].mean()
    after = np.abs(closed_form(image, one_colour(alpha, colour)) - under)[:, footprint].mean()
    return float(1 - after / before) if before > 0 else 0.0
