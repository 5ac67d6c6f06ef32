"""Where further copies of a tile may sit: normalised correlation of the tile's edge signature
with the photo's edges at every position, copies cut by the photo's border included (each scored
on its part inside the photo). A large photo is scored on a level of its edge pyramid where the
tile keeps a few pixels; the peaks are refined at full resolution in small windows around them,
as placement.py does for the first copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from pipeline.core.geometry import Box
from pipeline.core.mark.edges import near_edges, shrink
from pipeline.core.mark.placement import COARSEST_SIDE, VARIANCE_FLOOR

MIN_OVERLAP = 0.3  # share of the tile's outline in the photo for a position to be scored
MIN_SIDE = 8  # px: the tile's short side on the level the whole photo is scored on
MAX_PEAKS = 2000
COARSE_SLACK = 0.8  # a coarse level blurs a copy's score: its peaks are kept from this share
SEPARATION = 3  # px (on the level scored): peaks closer than this are one


@dataclass(frozen=True)
class Hit:
    score: float
    top: int  # the copy's top-left, full-resolution pixels (negative: cut by the border)
    left: int


def _sums(source: np.ndarray, template: np.ndarray) -> np.ndarray:
    return cv2.matchTemplate(source, np.ascontiguousarray(template, np.float32), cv2.TM_CCORR)


def correlation(photo: np.ndarray, signature: np.ndarray, spread: float) -> np.ndarray:
    """Normalised correlation over the tile's outline, counting only its part in `photo` (an
    edge map); `spread` is the whole photo's edge variance, whose floor keeps flat windows from
    scoring by chance. Entry [y, x] is the copy at (y - h + 1, x - w + 1); -1 where unscored."""
    height, width = signature.shape
    outline = near_edges(signature).astype(np.float32)
    weighted = signature * outline
    pad = ((height - 1, height - 1), (width - 1, width - 1))
    found = np.pad(photo, pad)
    inside = np.pad(np.ones_like(photo), pad)
    count = _sums(inside, outline)
    mark_sum, mark_squares = _sums(inside, weighted), _sums(inside, weighted * signature)
    photo_sum, photo_squares = _sums(found, outline), _sums(found * found, outline)
    safe = np.maximum(count, 1)
    covariance = _sums(found, weighted) - photo_sum * mark_sum / safe
    floor = safe * max(VARIANCE_FLOOR * spread, 1e-6)
    photo_var = np.maximum(photo_squares - photo_sum**2 / safe, 0) + floor
    mark_var = np.maximum(mark_squares - mark_sum**2 / safe, 1e-12)
    scores = covariance / np.sqrt(photo_var * mark_var)
    return np.where(count >= MIN_OVERLAP * outline.sum(), scores, -1.0).astype(np.float32)


def _best_in(scores: np.ndarray, top: int, left: int, reach: int, box: tuple[int, int]) -> Hit:
    """The best entry of correlation()'s `scores` within `reach` of the copy at (top, left)."""
    row, col = top + box[0] - 1, left + box[1] - 1
    y0, x0 = max(0, row - reach), max(0, col - reach)
    near = scores[y0 : row + reach + 1, x0 : col + reach + 1]
    if near.size == 0 or near.max() <= -1:
        return Hit(-1.0, top, left)
    dy, dx = np.unravel_index(int(np.argmax(near)), near.shape)
    return Hit(float(near[dy, dx]), top + y0 + int(dy) - row, left + x0 + int(dx) - col)


@dataclass(frozen=True)
class TileScores:
    """The photo's edge map and the tile's signature, full resolution, and the scores of every
    position on the level the whole photo is scored on (0: full resolution)."""

    photo: np.ndarray
    signature: np.ndarray
    spread: float  # the photo's edge variance
    level: int
    scores: np.ndarray  # correlation() on the level

    @classmethod
    def of(cls, photo: np.ndarray, signature: np.ndarray) -> TileScores:
        level = max(0, min(math.floor(math.log2(max(min(signature.shape), 1) / MIN_SIDE)),
                           math.floor(math.log2(max(max(photo.shape) / COARSEST_SIDE, 1)))))
        spread = float(photo.var())
        scores = correlation(shrink(photo, level), shrink(signature, level), spread)
        return cls(photo, signature, spread, level, scores)

    @property
    def box(self) -> tuple[int, int]:
        return self.signature.shape

    def best_near(self, top: int, left: int, reach: int) -> Hit:
        """The best-scored copy within `reach` px of (top, left), at full resolution: from
        the whole photo's scores, or on a window holding every such copy's part in the photo."""
        if self.level == 0:
            return _best_in(self.scores, top, left, reach, self.box)
        window = Box.at(top, left, self.box).grown(reach, self.photo.shape)
        if window.height <= 0 or window.width <= 0:
            return Hit(-1.0, top, left)
        scores = correlation(window.cut(self.photo), self.signature, self.spread)
        found = _best_in(scores, top - window.top, left - window.left, reach, self.box)
        return Hit(found.score, found.top + window.top, found.left + window.left)

    def peaks(self, share: float, least: float, first: tuple[int, int]) -> list[Hit]:
        """Copies scoring at least `share` of the copy at `first` (and at least `least`),
        found on the level scored and refined at full resolution."""
        scale = 2**self.level
        shrunk = shrink(self.signature, self.level).shape
        floor = max(least, share * self.best_near(*first, 0).score)
        bar = floor
        if self.level:  # the first copy's own coarse score sets the bar there, with some slack
            start = _best_in(self.scores, round(first[0] / scale), round(first[1] / scale), 1,
                             shrunk).score
            bar = max(least, share * start) * COARSE_SLACK
        local = ndimage.maximum_filter(self.scores, size=2 * SEPARATION + 1, mode="constant",
                                       cval=-1)
        rows, cols = np.nonzero((self.scores >= bar) & (self.scores == local))
        order = np.argsort(-self.scores[rows, cols])[:MAX_PEAKS]
        found = []
        for y, x in zip(rows[order], cols[order], strict=True):
            top, left = (int(y) - shrunk[0] + 1) * scale, (int(x) - shrunk[1] + 1) * scale
            hit = Hit(float(self.scores[y, x]), top, left)
            if self.level:
                hit = self.best_near(top, left, 2 * scale + 1)
            if hit.score >= floor:
                found.append(hit)
        return found
