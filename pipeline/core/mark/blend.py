"""The watermark model: a translucent mark blended over the photo, observed = a*W + (1-a)*photo.

Template mode does only the work that pays. Where the closed-form inverse (J - aW)/(1 - a) is
exact (a lossless file, a translucent pixel the model explains) it is the answer, in
milliseconds. The generator is fitted, on crops around them, only to the pixels that need it:
near-opaque ones (nothing shows through: inpainted), unexplained ones (the inverse leaves
[0, 1]: inpainted) and, in a lossy file, the visible ones, where the inverse amplifies the
file's noise by 1/(1-a): there the fit is combined with the inverse by inverse variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.core.dip.inputs import Blend
from pipeline.core.fill.restore import Evidence, Observers, check_hole, fill, quantize, restore
from pipeline.core.geometry import Box, box_around
from pipeline.core.mark.chroma import FULL, OPAQUE, ChromaGrid, unblend
from pipeline.picture import Picture
from pipeline.settings import DipSettings, RunOptions

VISIBLE = 1.5 / 255  # below this opacity a template pixel changes nothing
# In a lossy file, from this opacity up the inverse's noise (x 1/(1-a) >= 1.25) is worth
# fitting the network for: the JPEG q90 gt cases gained 0.1 dB over the inverse that way.
LOSSY_FIT_ALPHA = 0.2
# Without a network the classic fill takes over only where the inverse's noise is amplified
# 2.5x or more: below that the block-wise inverse (chroma.py) beat any fill on JPEG q90.
LOSSY_FILL_ALPHA = 0.6
WINDOW_MARGIN = 64  # px around the mark's box where its pixels are worked out


@dataclass(frozen=True)
class Mark:
    alpha: np.ndarray  # (H, W) float32 in [0, 1]
    colour: np.ndarray  # (C, H, W) float32 in [0, 1]

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape

    def scaled(self, scale: float) -> Mark:
        """The mark resized by `scale` (bicubic, clipped to [0, 1]); itself at 1.0."""
        if scale == 1.0:
            return self
        height, width = self.size
        size = (max(1, round(width * scale)), max(1, round(height * scale)))

        def resize(channel: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(channel).resize(size, Image.Resampling.BICUBIC))

        return Mark(
            alpha=np.clip(resize(self.alpha), 0, 1),
            colour=np.clip(np.stack([resize(c) for c in self.colour]), 0, 1),
        )

    def cut(self, box: Box) -> Mark:
        """The part of the mark inside `box` (views of its arrays)."""
        return Mark(alpha=box.cut(self.alpha), colour=box.cut(self.colour))


def raw_inverse(image: np.ndarray, mark: Mark, grid: ChromaGrid = FULL) -> np.ndarray:
    """(J - aW) / (1 - a), unclipped: how far it leaves [0, 1] says how well the model fits.
    A file that kept its colour per block (`grid`) is un-blended per block in chroma."""
    return unblend(image, mark.alpha, mark.colour, grid)


def closed_form(image: np.ndarray, mark: Mark, grid: ChromaGrid = FULL) -> np.ndarray:
    """(J - aW) / (1 - a): exact for an exact template on a lossless file."""
    return np.clip(raw_inverse(image, mark, grid), 0, 1)


# How far outside [0, 1] the inverse may fall before a pixel counts as unexplained. A lossy file's
# ringing at the mark's edges, amplified by 1/(1-a), overshoots much further than a wrong
# template would on a lossless one (zebra as JPEG q90: 0.06 flagged 2.3% of the footprint and
# cost 2.4 dB; 0.2 flags none).
TOLERANCE_LOSSLESS = 0.06
TOLERANCE_LOSSY = 0.2


def unexplained(image: np.ndarray, mark: Mark, tolerance: float = TOLERANCE_LOSSLESS,
                raw: np.ndarray | None = None) -> np.ndarray:
    """Pixels the blend model cannot explain: the inverse (`raw`, when already computed) falls
    far outside [0, 1] (a wrong opacity, a shifted template, a clipped highlight). They are
    treated as holes."""
    raw = raw_inverse(image, mark) if raw is None else raw
    far = ((raw < -tolerance) | (raw > 1 + tolerance)).any(axis=0)
    if not far.any():
        return far
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
    image: np.ndarray, network: np.ndarray, mark: Mark, trusted: np.ndarray, lossy: bool,
    inverse: np.ndarray | None = None,
) -> np.ndarray:
    """Per pixel, the better-trusted mix of the network's fit and the closed-form inverse.

    The inverse's error is the file's noise sigma amplified by 1/(1-a): 8-bit rounding for a
    lossless file, else read off the unmarked pixels. Their squared difference on trusted
    pixels, less that noise, is the network's own error tau^2. Weights are inverse variances
    (the MAP mix under Gaussian errors): a clean file keeps the exact inverse, a noisy one leans
    on the network where a is high.
    """
    inverse = closed_form(image, mark) if inverse is None else inverse
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


@dataclass(frozen=True)
class Recovery:
    """The photo recovered from under a mark, and how: `fitted` pixels came from the network
    (0 where the closed-form inverse was exact everywhere and no network ran)."""

    picture: Picture
    fitted: int


def needs_fit(image: np.ndarray, mark: Mark, lossy: bool, raw: np.ndarray | None = None,
              noisy_from: float = LOSSY_FIT_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """(trusted, fit): the pixels whose inverse the model explains, and those that must be
    filled (opaque, unexplained, and in a lossy file those under `noisy_from` opacity or more,
    where the fill is mixed with the inverse's amplified noise)."""
    footprint = mark.alpha > VISIBLE
    tolerance = TOLERANCE_LOSSY if lossy else TOLERANCE_LOSSLESS
    trusted = footprint & (mark.alpha < OPAQUE) & ~unexplained(image, mark, tolerance, raw)
    fit = footprint & ~trusted
    if lossy:
        fit |= footprint & (mark.alpha >= noisy_from)
    return trusted, fit


def recover(
    picture: Picture,
    mark: Mark,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    observers: Observers = Observers(),
) -> Recovery:
    """Recover the photo under a placed, full-size mark. Only the mark's box (and a margin) is
    worked on; no pixel outside its footprint changes. What the inverse cannot give (opaque or
    unexplained pixels, and a lossy file's strongly amplified ones) is filled: with the default
    classic fill as mask mode fills a hole, from the recovered pixels around it, and no network
    runs; with `fill: network` by the generator fitted to the blend."""
    footprint = mark.alpha > VISIBLE
    check_hole(footprint, picture.source)
    box = box_around(footprint, WINDOW_MARGIN)
    local = mark.cut(box)
    image = picture.pixels[box.slices].astype(np.float32).transpose(2, 0, 1) / picture.max_value
    raw = raw_inverse(image, local, ChromaGrid(*picture.chroma).within(box))
    network = settings.fill != "classic"
    noisy_from = LOSSY_FIT_ALPHA if network else LOSSY_FILL_ALPHA
    trusted, fit = needs_fit(image, local, picture.lossy, raw, noisy_from)
    recovered = _write(picture, box, footprint, raw)
    if fit.any():
        if network:
            filled = _fit(picture, mark, box, trusted, fit, settings, runtime, observers)
        else:
            hole = np.zeros(picture.size, dtype=bool)
            hole[box.slices] = fit
            filled = box.cut(restore(recovered, hole, settings, runtime, observers).as_float())
        mixed = combine(image, filled, local, trusted & fit, picture.lossy, np.clip(raw, 0, 1))
        recovered = _write(picture, box, footprint, np.where(fit, mixed, raw))
    return Recovery(recovered, int(fit.sum()))


def _write(picture: Picture, box: Box, footprint: np.ndarray, values: np.ndarray) -> Picture:
    """The picture with its footprint's pixels set to `values` (C, h, w floats over `box`)."""
    pixels = picture.pixels.copy()
    inside, where = pixels[box.slices], box.cut(footprint)
    inside[where] = quantize(values[:, where, None], pixels.dtype)[:, 0]
    return picture.with_pixels(pixels)


def _fit(
    picture: Picture,
    mark: Mark,
    box: Box,
    trusted: np.ndarray,
    fit: np.ndarray,
    settings: DipSettings,
    runtime: RunOptions,
    observers: Observers,
) -> np.ndarray:
    """The network's fill of `fit` (window coordinates), fitted to the blend where the
    inverse is trusted. The fit runs on the whole picture's coordinates (crops around `fit`),
    so snapshots and checkpoints see the whole picture."""
    footprint = mark.alpha > VISIBLE
    hole = np.zeros(picture.size, dtype=bool)
    hole[box.slices] = fit
    untrusted = footprint.copy()
    untrusted[box.slices] &= ~trusted
    weight = np.where(untrusted, 0.0, 1.0).astype(np.float32)
    evidence = Evidence(weight=weight, blend=Blend(alpha=mark.alpha[None], colour=mark.colour))
    return box.cut(fill(picture, hole, settings, evidence, runtime, observers))
