"""A hole's broad shapes from classic fills, mixed as the held-out pixels ask.

No single fill wins everywhere: frequency-selective reconstruction (FSR, Seiler and Kaup 2011,
opencv-contrib's `xphoto`) continues textures and straight edges, biharmonic inpainting is the
safer guess on thin strokes and smooth gradients, a fitted network is a third opinion where one
was fitted. Each also predicts held-out pixels (the hole shifted onto known pixels); the mix that
predicts those best (non-negative weights summing to one), tile by tile, fills the hole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from scipy.optimize import nnls
from skimage.restoration import inpaint_biharmonic

from pipeline.core.fill.holdout import SPREAD_ONLY, HeldOut

SUM_TO_ONE = 1e3  # how hard the weights are held to a sum of one, per held-out value
LOCAL_TILE = 32  # the mix is chosen per tile of this side, where its held-out pixels suffice
MIN_LOCAL = 64  # held-out pixels a tile needs for a mix of its own
FULL_TRUST = 0.5  # tile support (smoothed share of tiles with a mix) at which local weights rule


def classic_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of (C, H, W) floats: smooth, fast, safe on thin strokes."""
    filled = inpaint_biharmonic(image.transpose(1, 2, 0), unknown, channel_axis=-1)
    return np.clip(filled, 0, 1).transpose(2, 0, 1).astype(np.float32)


def biharmonic_fill(image: np.ndarray, unknown: np.ndarray, skip: int = 0) -> np.ndarray:
    """`classic_fill` of `unknown`; with `skip`, the pixels that close to the hole (a lossy
    file's ringing around the mark) are not continued from, and keep their own values."""
    filled = classic_fill(image, skip_border(unknown, skip))
    return np.where(unknown[None], filled, image).astype(np.float32)


def fsr_fill(image: np.ndarray, unknown: np.ndarray, skip: int = 0) -> np.ndarray:
    """Frequency-selective reconstruction of (C, H, W) floats in [0, 1] (8-bit inside OpenCV);
    pixels outside `unknown` (H, W) are returned as they were; `skip` as for biharmonic_fill."""
    filled = _fsr(image, skip_border(unknown, skip))
    return np.where(unknown[None], filled, image).astype(np.float32)


def skip_border(unknown: np.ndarray, skip: int) -> np.ndarray:
    """`unknown` (H, W) grown by `skip` px (not at all where that would leave nothing known)."""
    if skip <= 0:
        return unknown
    skipped = ndimage.binary_dilation(unknown, iterations=skip)
    return unknown if skipped.all() else skipped


def _fsr(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    channels = image.shape[0]
    rgb = image if channels == 3 else np.repeat(image[:1], 3, axis=0)
    pixels = np.ascontiguousarray((np.clip(rgb, 0, 1).transpose(1, 2, 0) * 255).round()
                                  .astype(np.uint8))
    known = (~unknown).astype(np.uint8) * 255  # OpenCV's FSR marks the KNOWN pixels non-zero
    filled = np.zeros_like(pixels)
    cv2.xphoto.inpaint(pixels, known, filled, cv2.xphoto.INPAINT_FSR_FAST)
    out = np.where(unknown[None], filled.transpose(2, 0, 1).astype(np.float32) / 255, rgb)
    return out if channels == 3 else out.mean(axis=0, keepdims=True)


def spread_fill(image: np.ndarray, unknown: np.ndarray, skip: int = 0) -> np.ndarray:
    """Each unknown pixel as the Gaussian-weighted mean of the known pixels around it, at the
    smallest scale that reaches one: never darker or brighter than its surroundings, however
    large the hole (biharmonic and FSR drift there: to black, to flat grey)."""
    known = (~skip_border(unknown, skip)).astype(np.float32)
    out, todo = image.astype(np.float32).copy(), unknown.copy()
    sigma = 2.0
    while todo.any() and sigma <= 4 * max(unknown.shape):
        support = ndimage.gaussian_filter(known, sigma)
        reached = todo & (support > 1e-3)
        for channel in range(image.shape[0]):
            spread = ndimage.gaussian_filter(image[channel] * known, sigma)
            out[channel][reached] = spread[reached] / support[reached]
        todo &= ~reached
        sigma *= 2
    return out


def fsr_near_border(image: np.ndarray, unknown: np.ndarray, skip: int = 0) -> np.ndarray:
    """`fsr_fill` within SPREAD_ONLY px of the hole's border; deeper, the spread fill, which is
    all the mix keeps there. FSR's cost follows the pixels it fills: a 600 px hole costs a band."""
    deep = ndimage.distance_transform_edt(unknown) > SPREAD_ONLY
    if not deep.any():
        return fsr_fill(image, unknown, skip)
    spread = spread_fill(image, unknown, skip)
    near = fsr_fill(np.where(deep[None], spread, image), unknown & ~deep, skip)
    return np.where(deep[None], spread, near).astype(np.float32)


ClassicFillFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
CLASSIC_FILLS: dict[str, ClassicFillFn] = {"fsr": fsr_near_border, "biharmonic": biharmonic_fill}
SAFE_FILLS: dict[str, ClassicFillFn] = {"spread": spread_fill}  # with nothing to judge by


@dataclass(frozen=True)
class StructureMix:
    """The mixed fill and the mean weight each candidate got over the hole."""

    values: np.ndarray  # (C, H, W)
    weights: dict[str, float]


def mix_weights(predictions: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one whose mix of `predictions` (each (N,) values) best
    matches `target` (N,) in squared error."""
    basis = np.stack(predictions, axis=1).astype(np.float64)
    hold = SUM_TO_ONE * np.sqrt(len(target))
    system = np.vstack([basis, np.full((1, basis.shape[1]), hold)])
    weights, _ = nnls(system, np.append(target.astype(np.float64), hold))
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(predictions), 1 / len(predictions))


def local_weights(predictions: list[np.ndarray], target: np.ndarray, look: HeldOut
                  ) -> np.ndarray:
    """(K, H, W) weights of K fills at each pixel of the hole, from their `predictions` (C, H, W)
    of the held-out pixels of `look`. A fill can be right in one part of a hole and wrong in
    another (FSR continues a tower's edge, biharmonic smears it into the sky): each tile of
    held-out pixels gets its own weights, spread smoothly and blended with the whole look's
    where tiles are few, then shifted back from the held-out pixels onto the hole."""
    held = look.pixels
    overall = mix_weights([p[:, held].ravel() for p in predictions], target[:, held].ravel())
    found = np.zeros((len(predictions), *held.shape))
    counted = np.zeros(held.shape)
    for top in range(0, held.shape[0], LOCAL_TILE):
        for left in range(0, held.shape[1], LOCAL_TILE):
            here = np.zeros_like(held)
            here[top:top + LOCAL_TILE, left:left + LOCAL_TILE] = True
            here &= held
            if here.sum() >= MIN_LOCAL:
                found[:, here] = mix_weights([p[:, here].ravel() for p in predictions],
                                             target[:, here].ravel())[:, None]
                counted[here] = 1
    support = ndimage.gaussian_filter(counted, LOCAL_TILE / 2)
    local = np.stack([ndimage.gaussian_filter(w * counted, LOCAL_TILE / 2) for w in found])
    local /= np.maximum(support, 1e-6)
    trust = np.clip(support / FULL_TRUST, 0, 1)
    weights = trust * local + (1 - trust) * overall[:, None, None]
    return np.roll(weights, (-look.shift[0], -look.shift[1]), axis=(1, 2))


def mix(names: list[str], fills: list[np.ndarray], weight_maps: list[np.ndarray],
        unknown: np.ndarray) -> StructureMix:
    """`fills` (each (C, H, W)) mixed by the mean of `weight_maps` (each (K, H, W)); an even mix
    without any."""
    if not weight_maps:
        weights = np.full((len(fills), *unknown.shape), 1 / len(fills))
    else:
        weights = np.mean(weight_maps, axis=0)
        weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-12)
    values = sum(weights[k] * fill for k, fill in enumerate(fills))
    means = {name: float(weights[k][unknown].mean()) if unknown.any() else 0.0
             for k, name in enumerate(names)}
    return StructureMix(np.asarray(values, dtype=np.float32), means)
