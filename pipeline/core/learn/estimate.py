"""Estimate a shared watermark from a folder of photos that carry it at the same place.

After Dekel et al., "On the Effectiveness of Visible Watermarks" (CVPR 2017): photo gradients
differ from image to image while the mark's gradients repeat, so the per-pixel median of the
gradients across the folder keeps the mark's outline and little else. Its footprint is that
outline closed and filled. Opacity and colour come from the blend model J = aW + (1-a)I: with the
photo under the mark estimated by inpainting each image, J - I = aW - aI is a line in I across the
folder, whose slope is -a and whose intercept is aW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from pipeline.core.fill.structure import classic_fill
from pipeline.core.mark.blend import VISIBLE, Mark
from pipeline.errors import InputError

MIN_IMAGES = 3
MAX_COLOUR_SPREAD = 0.1  # median distance of the fitted colours from theirs: one colour


def median_gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """images (N, C, H, W) -> (H, W): magnitude of the per-pixel median gradient."""
    grey = images.mean(axis=1)
    gx = np.median(np.stack([ndimage.sobel(g, axis=1) for g in grey]), axis=0)
    gy = np.median(np.stack([ndimage.sobel(g, axis=0) for g in grey]), axis=0)
    return np.hypot(gx, gy)


def footprint(images: np.ndarray) -> np.ndarray:
    """Where the mark is: the area inside its median-gradient outline.

    A Sobel outline lies a pixel outside each stroke on both sides, so the filled outline is
    eroded by one pixel. No closing: it would fuse neighbouring letters.
    """
    magnitude = median_gradient_magnitude(images)
    if magnitude.max() <= 0:
        raise InputError("the images share no edges: no common watermark found")
    edges = magnitude > 0.5 * threshold_otsu(magnitude)
    return ndimage.binary_erosion(ndimage.binary_fill_holes(edges), iterations=1)


def opacity_and_colour(images: np.ndarray, where: np.ndarray) -> Mark:
    """Per pixel of `where`, fit J - I = aW - aI across the folder (I: each photo inpainted)."""
    channels = images.shape[1]
    under = np.stack([classic_fill(image, where) for image in images])  # (N, C, H, W)
    observed = images[:, :, where]  # (N, C, P)
    photo = under[:, :, where]
    change = observed - photo
    photo_mean, change_mean = photo.mean(axis=0), change.mean(axis=0)
    covariance = ((photo - photo_mean) * (change - change_mean)).sum(axis=(0, 1))
    variance = ((photo - photo_mean) ** 2).sum(axis=(0, 1))
    alpha_points = np.clip(-covariance / np.maximum(variance, 1e-6), 0.02, 1.0)  # (P,)
    intercept = change_mean + alpha_points * photo_mean  # aW, (C, P)
    colour_points = np.clip(intercept / alpha_points, 0, 1)
    height, width = where.shape
    alpha = np.zeros((height, width), np.float32)
    colour = np.zeros((channels, height, width), np.float32)
    alpha[where] = alpha_points
    colour[:, where] = colour_points
    return Mark(alpha=alpha, colour=colour)


def estimate_mark(images: np.ndarray) -> Mark:
    """images (N, C, H, W) floats in [0, 1], all the same size, N >= MIN_IMAGES."""
    if len(images) < MIN_IMAGES:
        raise InputError(f"estimating a mark needs at least {MIN_IMAGES} images, got {len(images)}")
    where = footprint(images)
    if not where.any():
        raise InputError("no common watermark found across the images")
    return opacity_and_colour(images, where)


def one_colour_mark(images: np.ndarray) -> Mark:
    """estimate_mark for a mark of one colour (most are: white or grey text, a sparkle), with
    opacity fitted on the footprint grown by a pixel so its antialiased rim is kept. One unknown
    a pixel, J - I = a(W - I) across images and channels, is far steadier than the free line
    fit, whose slope rests on how much the photos differ there; a many-coloured mark keeps that
    fit."""
    first = estimate_mark(images)
    where = first.alpha > 0
    confident = where & (first.alpha >= np.median(first.alpha[where]))
    colour = np.median(first.colour[:, confident], axis=1)  # (C,)
    if np.median(np.abs(first.colour[:, confident] - colour[:, None])) > MAX_COLOUR_SPREAD:
        return first
    grown = ndimage.binary_dilation(where, iterations=1)
    under = np.stack([classic_fill(image, grown) for image in images])
    change = images[:, :, grown] - under[:, :, grown]  # (N, C, P)
    contrast = colour[None, :, None] - under[:, :, grown]
    alpha_points = weighted_median(change / np.where(np.abs(contrast) < 1e-6, 1e-6, contrast),
                                   contrast**2)
    alpha = np.zeros(where.shape, np.float32)
    alpha[grown] = np.clip(alpha_points, 0, 1)
    alpha[alpha < VISIBLE] = 0
    painted = np.broadcast_to(colour[:, None, None], first.colour.shape) * (alpha > 0)
    return Mark(alpha=alpha, colour=painted.astype(np.float32))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, C, P) -> (P,): per point, the median of its N*C values under their weights."""
    values = values.reshape(-1, values.shape[-1])
    weights = weights.reshape(-1, weights.shape[-1])
    order = np.argsort(values, axis=0)
    ranked = np.take_along_axis(values, order, axis=0)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=0), axis=0)
    middle = (cumulative < cumulative[-1] / 2).sum(axis=0)
    return ranked[np.minimum(middle, len(ranked) - 1), np.arange(ranked.shape[1])]


@dataclass(frozen=True)
class Footprint:
    """What `unmark estimate` reports about a mark."""

    pixels: int
    top: int
    left: int
    height: int
    width: int
    mean_opacity: float


def describe(mark: Mark) -> Footprint:
    where = mark.alpha > 0
    rows, cols = np.nonzero(where)
    return Footprint(
        pixels=int(where.sum()),
        top=int(rows.min()),
        left=int(cols.min()),
        height=int(rows.max() - rows.min() + 1),
        width=int(cols.max() - cols.min() + 1),
        mean_opacity=float(mark.alpha[where].mean()),
    )
