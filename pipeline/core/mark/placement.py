"""Where a template sits in a photo: normalised cross-correlation of edge maps, then a check by
the blend model (verify.py) that the mark is really there.

The search runs each scale (0.5x-2x) on the coarsest level of an image pyramid where the scaled
mark keeps a few pixels of height, so a logo on a multi-megapixel photo is searched on a few
hundred thousand pixels; the best peaks are refined at full resolution in small windows only.
cv2.matchTemplate correlates by FFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.core.geometry import Box, overlap
from pipeline.core.mark.blend import Mark
from pipeline.core.mark.chroma import FULL, ChromaGrid
from pipeline.core.mark.edges import edges, mark_signature, near_edges, shrink
from pipeline.core.mark.verify import PlacementCheck, verify

# Marked images scored 0.33-0.96 in place; unmarked ones <= 0.05 in place, but up to 0.25 at
# the best of a search over positions and scales (a searched f16 logo scored 0.33).
MIN_CONFIDENCE_IN_PLACE = 0.2
MIN_CONFIDENCE = 0.28
SEARCH_SCALES = 15  # geometric steps over the scale range (about 10% apart for 0.5x-2x)
MIN_SIDE = 4  # px: the scaled mark's short side on the level it is searched at
COARSEST_SIDE = 512  # px: the coarsest level searched keeps at least this long a side
VARIANCE_FLOOR = 0.1  # share of the photo's edge variance a window is assumed to have at least
PEAKS_PER_SCALE = 3
CANDIDATES = 6  # peaks refined at full resolution and checked, best first


@dataclass(frozen=True)
class Placement:
    """Where the template sits in one photo, and how sure we are that it is there."""

    top: int
    left: int
    scale: float
    confidence: float
    problem: str | None = None  # why the blend model does not confirm the mark here, if it does not
    copies: int = 1  # a tiled mark: the copies confirmed and removed (this one among them)
    unconfirmed: int = 0  # a tiled mark: copies the grid predicts but the blend model refused

    def as_dict(self) -> dict:
        """As the ledger keeps it (a single mark's entry as before tiling existed)."""
        found = {"top": self.top, "left": self.left, "scale": round(self.scale, 4),
                 "confidence": round(self.confidence, 4)}
        if self.copies > 1 or self.unconfirmed:
            found |= {"copies": self.copies, "unconfirmed": self.unconfirmed}
        return found

    @classmethod
    def from_dict(cls, data: dict) -> Placement:
        return cls(int(data["top"]), int(data["left"]), float(data["scale"]),
                   float(data["confidence"]), copies=int(data.get("copies", 1)),
                   unconfirmed=int(data.get("unconfirmed", 0)))

    def describe(self, brief: bool = False) -> str:
        """The placement for people: in full after `remove`, brief in a status table's note."""
        tiled = ""
        if self.copies > 1 or self.unconfirmed:
            tiled = f", tiled: {self.copies} copies"
            if self.unconfirmed:
                tiled += f" ({self.unconfirmed} unconfirmed, left untouched)"
        if brief:
            return f"mark at x={self.left} y={self.top}, confidence {self.confidence:.2f}{tiled}"
        return (f"mark at x={self.left}, y={self.top}, scale {self.scale:.2f}, "
                f"confidence {self.confidence:.2f}{tiled}")


def _correlate(image_edges: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """Normalised correlation of the signature at every position, counting only the pixels
    near the mark's edges (the rest of its box would only add the photo's own edges)."""
    mask = near_edges(signature).astype(np.float32)
    scores = cv2.matchTemplate(image_edges, signature, cv2.TM_CCOEFF_NORMED, mask=mask)
    return np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)


def _correlate_coarse(image_edges: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """Normalised correlation over the whole box, 3x faster than the masked form: one FFT
    correlation plus window sums from an integral image. A floor on the window's variance keeps
    flat windows (sky, an upscaled photo) from scoring by chance."""
    height, width = signature.shape
    centred = signature - signature.mean()
    numerator = cv2.matchTemplate(image_edges, centred, cv2.TM_CCORR)
    sums, squares = cv2.integral2(image_edges, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)

    def window(table: np.ndarray) -> np.ndarray:
        return (table[height:, width:] - table[:-height, width:] - table[height:, :-width]
                + table[:-height, :-width])

    count = height * width
    variance = window(squares) - window(sums) ** 2 / count
    floor = count * max(VARIANCE_FLOOR * float(image_edges.var()), 1e-6)
    spread = np.sqrt(np.maximum(variance, 0) + floor) * np.sqrt((centred**2).sum())
    return (numerator / spread).astype(np.float32)


def _peaks(scores: np.ndarray, shape: tuple[int, int], count: int) -> list[tuple[float, int, int]]:
    """The `count` best positions at least half a template apart: (score, top, left)."""
    found = []
    scores = scores.copy()
    for _ in range(count):
        _, best, _, (left, top) = cv2.minMaxLoc(scores)
        if best <= 0:
            break
        found.append((float(best), int(top), int(left)))
        h, w = max(1, shape[0] // 2), max(1, shape[1] // 2)
        scores[max(0, top - h) : top + h + 1, max(0, left - w) : left + w + 1] = -1
    return found


@dataclass(frozen=True)
class Candidate:
    score: float
    top: int
    left: int
    scale: float
    level: int  # the pyramid level it was found on: 2**level px of uncertainty


def _search(mark: Mark, image_edges: np.ndarray, scales: np.ndarray) -> list[Candidate]:
    """Coarse: every scale on its own pyramid level; the best peaks over all scales."""
    top_level = max(0, math.floor(math.log2(max(image_edges.shape) / COARSEST_SIDE)))
    levels: dict[int, np.ndarray] = {}
    found: list[Candidate] = []
    for scale in scales:
        short = min(mark.size) * scale
        level = max(0, min(math.floor(math.log2(max(short, 1) / MIN_SIDE)), top_level))
        if level not in levels:
            levels[level] = shrink(image_edges, level)
        signature = shrink(mark_signature(mark.scaled(float(scale))), level)
        coarse = levels[level]
        if signature.shape[0] > coarse.shape[0] or signature.shape[1] > coarse.shape[1]:
            continue
        scores = _correlate_coarse(coarse, signature)
        for score, top, left in _peaks(scores, signature.shape, PEAKS_PER_SCALE):
            found.append(Candidate(score, top * 2**level, left * 2**level, float(scale), level))
    found.sort(key=lambda c: -c.score)
    distinct: list[Candidate] = []
    for candidate in found:  # one per spot: the same mark seen at neighbouring scales
        height = min(mark.size) * candidate.scale
        if all(abs(candidate.top - c.top) + abs(candidate.left - c.left) > height
               for c in distinct):
            distinct.append(candidate)
        if len(distinct) == CANDIDATES:
            break
    return distinct


def _window_edges(grey: np.ndarray, window: Box) -> np.ndarray:
    """The edge map of `window` of grey, computed with a pixel of the photo around it (the
    same values as the whole photo's edge map there)."""
    ring = window.grown(1, grey.shape)
    around = edges(ring.cut(grey))[window.top - ring.top :, window.left - ring.left :]
    return np.ascontiguousarray(around[: window.height, : window.width])


def _refine(mark: Mark, grey: np.ndarray, candidate: Candidate, step: float) -> Candidate:
    """Full resolution, a window around the candidate: scales half a coarse `step` either side,
    then a quarter of that around the best (a 1% error in scale is pixels off at the far end of
    a wide logo)."""
    found = _refine_once(mark, grey, candidate, step**0.5, 2 ** (candidate.level + 1) + 4)
    if found.score < 0:
        return found
    return max(found, _refine_once(mark, grey, found, step**0.125, 4), key=lambda c: c.score)


def _refine_once(
    mark: Mark, grey: np.ndarray, candidate: Candidate, spread: float, margin: int
) -> Candidate:
    best = replace(candidate, score=-1.0, level=0)
    for scale in candidate.scale * np.geomspace(1 / spread, spread, 5):
        signature = mark_signature(mark.scaled(float(scale)))
        box = Box.at(candidate.top, candidate.left, signature.shape).grown(margin, grey.shape)
        window = _window_edges(grey, box)
        if signature.shape[0] > window.shape[0] or signature.shape[1] > window.shape[1]:
            continue
        scores = _correlate(window, signature)
        _, score, _, (left, top) = cv2.minMaxLoc(scores)
        if score > best.score:
            best = Candidate(float(score), box.top + int(top), box.left + int(left),
                             float(scale), 0)
    return best


def locate(
    mark: Mark, image: np.ndarray, lossy: bool = False, scales: tuple[float, float] = (0.5, 2.0),
    chroma: ChromaGrid = FULL,
) -> Placement:
    """Find the mark in `image` (C, H, W) and check it there with the blend model. Returns the
    best placement the blend model confirms, else the best by correlation with its `problem`.
    A mark of the image's own size is only checked in place."""
    size = image.shape[1:]
    if mark.size == size:
        check = verify(mark, image, lossy, chroma)
        return Placement(0, 0, 1.0, check.before, check.problem)
    grey = np.ascontiguousarray(image.mean(axis=0), dtype=np.float32)
    grid = np.geomspace(scales[0], scales[1], SEARCH_SCALES)
    step = float(grid[1] / grid[0])
    candidates = [_refine(mark, grey, c, step) for c in _search(mark, edges(grey), grid)]
    if not candidates:
        return Placement(0, 0, 1.0, 0.0, "the template is larger than the image at every scale")
    placements = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        found = Placement(candidate.top, candidate.left, candidate.scale, 0.0)
        check = _check(mark, found, image, lossy, chroma)
        placement = replace(found, confidence=check.before, problem=check.problem)
        if check.problem is None:
            return placement
        placements.append(placement)
    return placements[0]


def _check(mark: Mark, found: Placement, image: np.ndarray, lossy: bool,
           chroma: ChromaGrid) -> PlacementCheck:
    """The blend model's check on a window around the placed mark."""
    scaled = mark.scaled(found.scale)
    margin = max(16, max(scaled.size) // 2)
    box = Box.at(found.top, found.left, scaled.size).grown(margin, image.shape[1:])
    local = replace(found, top=found.top - box.top, left=found.left - box.left, scale=1.0)
    return verify(place(scaled, local, box.size), box.cut(image), lossy, chroma.within(box))


def place(mark: Mark, placement: Placement, size: tuple[int, int]) -> Mark:
    """The mark at its placement on a canvas of `size` (H, W); zero opacity elsewhere. A copy
    of a tiled mark may stick out of the canvas on any side: its visible part is placed."""
    scaled = mark.scaled(placement.scale)
    height, width = size
    alpha = np.zeros(size, np.float32)
    colour = np.zeros((scaled.colour.shape[0], height, width), np.float32)
    canvas, inside = overlap(placement.top, placement.left, scaled.size, size)
    alpha[canvas.slices] = inside.cut(scaled.alpha)
    colour[:, canvas.rows, canvas.cols] = inside.cut(scaled.colour)
    return Mark(alpha=alpha, colour=colour)


def threshold(mark: Mark, size: tuple[int, int]) -> float:
    """The confidence below which the mark counts as absent: a full-frame mark is scored in place,
    a smaller one at the best of a search (which finds something even where nothing is)."""
    return MIN_CONFIDENCE_IN_PLACE if mark.size == size else MIN_CONFIDENCE
