"""Where a template sits in a photo: normalised cross-correlation of edge maps over positions and
scales, then a score of how well the placed mark explains the photo's edges."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.core.blend import Mark
from pipeline.errors import NoMarkFound

# Marked images scored 0.33-0.96 in place; unmarked ones <= 0.05 in place, but up to 0.25 at
# the best of a search over positions and scales (a searched f16 logo scored 0.33).
MIN_CONFIDENCE_IN_PLACE = 0.2
MIN_CONFIDENCE = 0.28


@dataclass(frozen=True)
class Placement:
    """Where the template sits in one photo, and how sure we are that it is there."""

    top: int
    left: int
    scale: float
    confidence: float

    def as_dict(self) -> dict:
        """As the ledger keeps it."""
        return {"top": self.top, "left": self.left, "scale": round(self.scale, 4),
                "confidence": round(self.confidence, 4)}

    @classmethod
    def from_dict(cls, data: dict) -> Placement:
        return cls(int(data["top"]), int(data["left"]), float(data["scale"]),
                   float(data["confidence"]))

    def describe(self, brief: bool = False) -> str:
        """The placement for people: in full after `remove`, brief in a status table's note."""
        if brief:
            return f"mark at x={self.left} y={self.top}, confidence {self.confidence:.2f}"
        return (f"mark at x={self.left}, y={self.top}, scale {self.scale:.2f}, "
                f"confidence {self.confidence:.2f}")


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


def threshold(mark: Mark, size: tuple[int, int]) -> float:
    """The confidence below which the mark counts as absent: a full-frame mark is scored in place,
    a smaller one at the best of a search (which finds something even where nothing is)."""
    return MIN_CONFIDENCE_IN_PLACE if mark.size == size else MIN_CONFIDENCE
