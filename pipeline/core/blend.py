"""The watermark model: a translucent mark blended over the photo, observed = a*W + (1-a)*photo.

Template mode keeps what still shows through the mark: the generator is fitted to the blend over
the whole footprint, then combined pixel by pixel with the closed-form inverse (J - aW)/(1 - a),
each weighted by how much it can be trusted (the inverse amplifies file noise by 1/(1-a); the
network misses fine detail). Where a is near 1 nothing shows through and the pixel is inpainted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.fit import Blend
from pipeline.core.restore import Evidence, Observers, check_hole, composite, fill
from pipeline.io.imaging import Picture
from pipeline.settings import DipSettings, RunOptions

VISIBLE = 1.5 / 255  # below this opacity a template pixel changes nothing
OPAQUE = 0.95  # above it, nothing of the photo shows through: inpaint


@dataclass(frozen=True)
class Mark:
    alpha: np.ndarray  # (H, W) float32 in [0, 1]
    colour: np.ndarray  # (C, H, W) float32 in [0, 1]

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape


def closed_form(image: np.ndarray, mark: Mark) -> np.ndarray:
    """(J - aW) / (1 - a): exact for an exact template on a lossless file."""
    alpha = np.minimum(mark.alpha, OPAQUE)[None]
    return np.clip((image - alpha * mark.colour) / (1 - alpha), 0, 1)


# How far outside [0, 1] the inverse may fall before a pixel counts as unexplained. A lossy file's
# ringing at the mark's edges, amplified by 1/(1-a), overshoots much further than a wrong
# template would on a lossless one (zebra as JPEG q90: 0.06 flagged 2.3% of the footprint and
# cost 2.4 dB; 0.2 flags none).
TOLERANCE_LOSSLESS = 0.06
TOLERANCE_LOSSY = 0.2


def unexplained(image: np.ndarray, mark: Mark, tolerance: float = TOLERANCE_LOSSLESS) -> np.ndarray:
    """Pixels the blend model cannot explain: the inverse falls far outside [0, 1] (a wrong
    opacity, a shifted template, a clipped highlight). They are treated as holes."""
    alpha = np.minimum(mark.alpha, OPAQUE)[None]
    raw = (image - alpha * mark.colour) / (1 - alpha)
    far = ((raw < -tolerance) | (raw > 1 + tolerance)).any(axis=0)
    return ndimage.binary_dilation(far, iterations=1) & (mark.alpha > VISIBLE)


LAPLACIAN_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def file_noise(image: np.ndarray, where: np.ndarray) -> float:
    """Standard deviation of the file's own noise (JPEG, sensor), from the flattest quarter of
    `where` (Immerkaer's estimator: a filter blind to planes and ramps; the flattest pixels keep
    texture out of the estimate)."""
    grey = image.mean(axis=0).astype(np.float64)
    response = np.abs(ndimage.convolve(grey, LAPLACIAN_DIFFERENCE, mode="reflect"))
    flatness = np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))
    candidates = where & (flatness <= np.quantile(flatness[where], 0.25)) if where.any() else where
    if candidates.sum() < 64:
        return 1.0 / 255
    return float(np.sqrt(np.pi / 2) / 6 * response[candidates].mean())


QUANTIZATION_NOISE = 1 / 255 / np.sqrt(12)
# Immerkaer's estimate reads JPEG q90 noise low (JPEG flattens the flat areas it measures): the
# measured error of such files on the gt photos was 2-5 levels, so lossy files get at least 2.
LOSSY_NOISE_FLOOR = 2 / 255


def combine(
    image: np.ndarray, network: np.ndarray, mark: Mark, trusted: np.ndarray, lossy: bool
) -> np.ndarray:
    """Per pixel, the better-trusted mix of the network's fit and the closed-form inverse.

    The inverse's error is the file's noise sigma amplified by 1/(1-a): 8-bit rounding for a
    lossless file, else read off the unmarked pixels. Their squared difference on trusted
    pixels, less that noise, is the network's own error tau^2. Weights are inverse variances
    (the MAP mix under Gaussian errors): a clean file keeps the exact inverse, a noisy one leans
    on the network where a is high.
    """
    inverse = closed_form(image, mark)
    keep = (1 - np.minimum(mark.alpha, OPAQUE)) ** 2
    weight = np.zeros_like(keep)
    if trusted.any():
        sigma = QUANTIZATION_NOISE
        if lossy:
            sigma = max(file_noise(image, mark.alpha <= VISIBLE), LOSSY_NOISE_FLOOR)
        sigma2 = sigma**2
        spread = ((inverse - network) ** 2).mean(axis=0)[trusted]
        tau2 = max(float(np.mean(spread - sigma2 / keep[trusted])), sigma2)
        weight = (keep * tau2) / (keep * tau2 + sigma2)
    weight = np.where(trusted, weight, 0.0)[None]
    return weight * inverse + (1 - weight) * network


def remove_with_mark(
    picture: Picture,
    mark: Mark,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    observers: Observers = Observers(),
) -> Picture:
    """Recover the photo under a placed, full-size mark. The blend model replaces mask mode's
    aids (classic fill, held-out pixels): the fit of each crop is the network's alone."""
    footprint = mark.alpha > VISIBLE
    check_hole(footprint, picture.source)
    image = picture.as_float()
    tolerance = TOLERANCE_LOSSY if picture.lossy else TOLERANCE_LOSSLESS
    trusted = footprint & (mark.alpha < OPAQUE) & ~unexplained(image, mark, tolerance)
    weight = np.where(footprint & ~trusted, 0.0, 1.0).astype(np.float32)
    evidence = Evidence(weight=weight, blend=Blend(alpha=mark.alpha[None], colour=mark.colour))
    network = fill(picture, footprint, settings, evidence, runtime, observers)
    mixed = combine(image, network, mark, trusted, picture.lossy)
    return composite(picture, footprint, mixed)
