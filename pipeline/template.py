"""The watermark model: a translucent mark blended over the photo, observed = a*W + (1-a)*photo.

Template mode keeps what still shows through the mark: the generator is fitted to the blend over
the whole footprint, then combined pixel by pixel with the closed-form inverse (J - aW)/(1 - a),
each weighted by how much it can be trusted (the inverse amplifies file noise by 1/(1-a); the
network misses fine detail). Where a is near 1 nothing shows through and the pixel is inpainted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline import dip
from pipeline.errors import InputError, NoMarkFound
from pipeline.imaging import Picture, load_picture, save_picture
from pipeline.restore import Evidence, Observers, check_hole, composite, fill
from pipeline.settings import DipSettings

VISIBLE = 1.5 / 255  # below this opacity a template pixel changes nothing
OPAQUE = 0.95  # above it, nothing of the photo shows through: inpaint
# Marked images scored 0.33-0.96 in place; unmarked ones <= 0.05 in place, but up to 0.25 at
# the best of a search over positions and scales (a searched f16 logo scored 0.33).
MIN_CONFIDENCE_IN_PLACE = 0.2
MIN_CONFIDENCE = 0.28


@dataclass(frozen=True)
class Mark:
    alpha: np.ndarray  # (H, W) float32 in [0, 1]
    colour: np.ndarray  # (C, H, W) float32 in [0, 1]

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape


@dataclass(frozen=True)
class Placement:
    """Where the template sits in one photo, and how sure we are that it is there."""

    top: int
    left: int
    scale: float
    confidence: float

    def as_dict(self) -> dict:
        return {"top": self.top, "left": self.left, "scale": round(self.scale, 4),
                "confidence": round(self.confidence, 4)}


def load_mark(path: str | Path, channels: int = 3) -> Mark:
    """An RGBA template: colour and opacity of the mark."""
    template = load_picture(path)
    if template.alpha is None:
        raise InputError(f"{path}: a template needs an alpha channel (RGBA: colour + opacity)")
    alpha = template.alpha.astype(np.float32) / np.iinfo(template.alpha.dtype).max
    if alpha.max() < VISIBLE:
        raise InputError(f"{path}: the template is fully transparent")
    colour = template.as_float()
    if colour.shape[0] != channels:
        grey = colour.mean(axis=0, keepdims=True)
        colour = np.repeat(grey, channels, axis=0) if channels != 1 else grey
    return Mark(alpha=alpha, colour=colour)


def _edges(grey: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1)).astype(np.float32)


def _mark_signature(mark: Mark) -> np.ndarray:
    """What the mark adds to a photo's edges: the edges of its opacity, scaled by its contrast."""
    return _edges(mark.alpha * (0.25 + np.abs(mark.colour.mean(axis=0) - 0.5)))


def _scaled(mark: Mark, scale: float) -> Mark:
    if scale == 1.0:
        return mark
    height, width = mark.size
    size = (max(1, round(width * scale)), max(1, round(height * scale)))

    def resize(channel: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(channel).resize(size, Image.Resampling.BICUBIC))

    return Mark(
        alpha=np.clip(resize(mark.alpha), 0, 1),
        colour=np.clip(np.stack([resize(c) for c in mark.colour]), 0, 1),
    )


def _near_edges(signature: np.ndarray) -> np.ndarray:
    return ndimage.binary_dilation(signature > 0.05 * signature.max(), iterations=2)


def _match(image_edges: np.ndarray, signature: np.ndarray) -> tuple[float, int, int]:
    """Best normalised correlation of the signature over the image, counting only the pixels
    near the mark's edges (the rest of its box would only add the photo's own edges)."""
    import cv2

    mask = _near_edges(signature).astype(np.float32)
    scores = cv2.matchTemplate(image_edges, signature, cv2.TM_CCOEFF_NORMED, mask=mask)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
    _, best, _, (left, top) = cv2.minMaxLoc(scores)
    return float(best), int(top), int(left)


def _score_in_place(mark: Mark, image: np.ndarray) -> float:
    """How well a placed, full-frame mark explains the image's edges: the correlation of the two
    edge maps over the pixels near the mark's own edges (elsewhere only the photo speaks)."""
    signature = _mark_signature(mark)
    near = _near_edges(signature)
    image_edges = _edges(image.mean(axis=0))[near]
    if near.sum() < 16 or image_edges.std() == 0:
        return 0.0
    return float(np.corrcoef(signature[near], image_edges)[0, 1])


def locate(mark: Mark, image: np.ndarray, scales: tuple[float, float] = (0.5, 2.0)) -> Placement:
    """Find the mark in `image` (C, H, W): normalised cross-correlation of edge maps over
    scales, coarse (a geometric grid at half resolution) then fine (full resolution)."""
    height, width = image.shape[1:]
    if mark.size == (height, width):
        return Placement(0, 0, 1.0, _score_in_place(mark, image))
    image_edges = _edges(image.mean(axis=0))
    half = image_edges[::2, ::2].copy()
    coarse = np.geomspace(scales[0], scales[1], 15)
    best = (-1.0, 0, 0, 1.0)
    for scale in coarse:
        signature = _mark_signature(_scaled(mark, scale / 2))
        if signature.shape[0] > half.shape[0] or signature.shape[1] > half.shape[1]:
            continue
        score, top, left = _match(half, signature)
        if score > best[0]:
            best = (score, top * 2, left * 2, scale)
    if best[0] < 0:
        raise NoMarkFound("the template is larger than the image at every scale tried")
    _, top0, left0, scale0 = best
    fine = (-1.0, top0, left0, scale0)
    for scale in scale0 * np.linspace(0.95, 1.05, 7):
        signature = _mark_signature(_scaled(mark, scale))
        margin = 8
        y0, x0 = max(0, top0 - margin), max(0, left0 - margin)
        y1 = min(height, top0 + signature.shape[0] + margin)
        x1 = min(width, left0 + signature.shape[1] + margin)
        window = image_edges[y0:y1, x0:x1]
        if signature.shape[0] > window.shape[0] or signature.shape[1] > window.shape[1]:
            continue
        score, top, left = _match(window, signature)
        if score > fine[0]:
            fine = (score, y0 + top, x0 + left, scale)
    _, top, left, scale = fine
    found = Placement(int(top), int(left), float(scale), 0.0)
    confidence = _score_in_place(place(mark, found, (height, width)), image)
    return dataclasses.replace(found, confidence=confidence)


def place(mark: Mark, placement: Placement, size: tuple[int, int]) -> Mark:
    """The mark at its placement on a canvas of `size` (H, W); zero opacity elsewhere."""
    scaled = _scaled(mark, placement.scale)
    height, width = size
    alpha = np.zeros(size, np.float32)
    colour = np.zeros((scaled.colour.shape[0], height, width), np.float32)
    h = min(scaled.size[0], height - placement.top)
    w = min(scaled.size[1], width - placement.left)
    rows = slice(placement.top, placement.top + h)
    cols = slice(placement.left, placement.left + w)
    alpha[rows, cols] = scaled.alpha[:h, :w]
    colour[:, rows, cols] = scaled.colour[:, :h, :w]
    return Mark(alpha=alpha, colour=colour)


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
    picture: Picture, mark: Mark, settings: DipSettings, observers: Observers = Observers()
) -> Picture:
    """Recover the photo under a placed, full-size mark."""
    footprint = mark.alpha > VISIBLE
    check_hole(footprint, picture.source)
    image = picture.as_float()
    tolerance = TOLERANCE_LOSSY if picture.lossy else TOLERANCE_LOSSLESS
    trusted = footprint & (mark.alpha < OPAQUE) & ~unexplained(image, mark, tolerance)
    weight = np.where(footprint & ~trusted, 0.0, 1.0).astype(np.float32)
    evidence = Evidence(weight=weight, blend=dip.Blend(alpha=mark.alpha[None], colour=mark.colour))
    network = fill(picture, footprint, template_settings(settings), evidence, observers)
    mixed = combine(image, network, mark, trusted, picture.lossy)
    return composite(picture, footprint, mixed)


def template_settings(settings: DipSettings) -> DipSettings:
    """The blend model replaces the classic-fill helpers of mask mode."""
    return dataclasses.replace(settings, classic_mix=False, prior_weight=0.0, holdout=False)


def run_template_job(job, settings: DipSettings, observers: Observers = Observers()):
    """Find the template in the job's image, recover the photo under it, write the result.

    Returns (output path, {"placement": ...}) for the ledger. Raises NoMarkFound, writing
    nothing, when the mark is not there: an image without the mark is never touched.
    """
    picture = load_picture(job.image)
    mark = load_mark(job.template, channels=picture.pixels.shape[2])
    image = picture.as_float()
    placement = locate(mark, image)
    threshold = MIN_CONFIDENCE_IN_PLACE if mark.size == picture.size else MIN_CONFIDENCE
    if placement.confidence < threshold:
        raise NoMarkFound(
            f"{job.image}: watermark {Path(job.template).name} not found (best match "
            f"{placement.confidence:.2f} < {threshold}); the image was left untouched"
        )
    full = place(mark, placement, picture.size)
    result = remove_with_mark(picture, full, settings, observers)
    return save_picture(result, job.output), {"placement": placement.as_dict()}
