"""Tiled marks: stock sites repeat their mark across the whole photo, from a template that is one
tile, or a sheet smaller than the photo. From the copy `locate` found and confirmed, edge
correlation at every position (copies cut by the photo's border included) picks out the other
copies; their offsets give the grid's periods and phase (tiling_grid.py), and every grid
position that meets the photo is a copy to check. Each copy is checked by the blend model on its
own pixels, its neighbours inverted around it first (a sheet's copies overlap, and a copy's
neighbours would otherwise read as its own outline). A refused copy is left untouched and
counted. A single logo finds no second copy and stays a single placement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.core.geometry import Box, overlap
from pipeline.core.mark.blend import VISIBLE, Mark, closed_form
from pipeline.core.mark.chroma import FULL, ChromaGrid
from pipeline.core.mark.edges import edges, mark_signature
from pipeline.core.mark.placement import MIN_CONFIDENCE, MIN_CONFIDENCE_IN_PLACE, Placement
from pipeline.core.mark.tiling_grid import Grid, fit_grid
from pipeline.core.mark.tiling_scores import TileScores
from pipeline.core.mark.verify import verify

PEAK_SHARE = 0.6  # a further copy correlates at least this share of the first copy's score
REFINE = 2  # px a grid position may move to the correlation peak next to it
# px around a copy where it is checked: enough photo around it to judge its edges by; a search's
# check (placement._check) takes half the mark's size, 6x the pixels for the shipped tile.
MARGIN = 16
# px: a copy showing less of itself in the photo is left alone (a faint mark's 21 px sliver, where
# nothing was marked, lost edges by chance); the shipped tile's 44 px slivers are checked.
MIN_SHOWN = 32


@dataclass(frozen=True)
class Copy:
    top: int
    left: int
    on_grid: bool  # placed by the grid (else a correlation peak off it)


@dataclass(frozen=True)
class Tiling:
    """The copies of a template confirmed in one photo, at one scale."""

    tile: Mark  # the template at the scale found
    copies: tuple[Copy, ...]  # confirmed, the first found among them
    unconfirmed: int  # copies the grid or the correlation proposed and the blend model refused
    grid: Grid | None

    def mark(self, size: tuple[int, int]) -> Mark:
        """One full-size mark covering every confirmed copy."""
        return _union(self.tile, self.copies, Box.whole(size))

    def placement(self, first: Placement) -> Placement:
        return replace(first, copies=len(self.copies), unconfirmed=self.unconfirmed)


def _union(tile: Mark, copies: tuple[Copy, ...] | list[Copy], frame: Box) -> Mark:
    """The copies pasted on a canvas that is `frame` of the photo; where copies overlap (a
    sheet's do) the more opaque one is kept (a tile's transparent margin must not erase its
    neighbour)."""
    alpha = np.zeros(frame.size, np.float32)
    colour = np.zeros((tile.colour.shape[0], *frame.size), np.float32)
    for copy in copies:
        canvas, inside = overlap(copy.top - frame.top, copy.left - frame.left, tile.size,
                                 frame.size)
        more = inside.cut(tile.alpha) > canvas.cut(alpha)
        alpha[canvas.slices] = np.where(more, inside.cut(tile.alpha), canvas.cut(alpha))
        colour[:, canvas.rows, canvas.cols] = np.where(more, inside.cut(tile.colour),
                                                       canvas.cut(colour))
    return Mark(alpha=alpha, colour=colour)


def _proposals(scores: TileScores, first: Copy) -> tuple[list[Copy], Grid | None]:
    """Every copy to check besides the first: grid positions, then peaks off the grid."""
    hits = scores.peaks(PEAK_SHARE, MIN_CONFIDENCE, (first.top, first.left))
    peaks = [(hit.top, hit.left) for hit in hits]
    grid = fit_grid((first.top, first.left), peaks)
    proposed: dict[tuple[int, int], Copy] = {}
    for top, left in grid.points(scores.box, scores.photo.shape) if grid else []:
        hit = scores.best_near(top, left, REFINE)
        if hit.score > -1:
            top, left = hit.top, hit.left
        proposed[(top, left)] = Copy(top, left, on_grid=True)
    for top, left in peaks:
        if all(abs(top - t) + abs(left - x) > 2 * REFINE for t, x in proposed):
            proposed[(top, left)] = Copy(top, left, on_grid=False)
    taken = [c for c in proposed.values()
             if abs(c.top - first.top) + abs(c.left - first.left) > 2 * REFINE]
    return taken, grid


def _box(tile: Mark, copy: Copy) -> Box:
    return Box.at(copy.top, copy.left, tile.size)


def _window(tile: Mark, copy: Copy, size: tuple[int, int]) -> Box:
    """The copy's box and a margin around it, inside the photo."""
    return _box(tile, copy).grown(MARGIN, size)


@dataclass(frozen=True)
class CopyCheck:
    """The blend model's check of one copy: by the usual test (`strict`), and by the looser
    one a grid position earns (`on_grid`: the edges must fall all the same)."""

    strict: bool
    on_grid: bool


def _checked(tile: Mark, copy: Copy, others: list[Copy], image: np.ndarray,
             lossy: bool, chroma: ChromaGrid) -> CopyCheck:
    """The check of one copy on its own pixels: a window around it, where the other copies are
    inverted first outside the copy's box."""
    frame = _window(tile, copy, image.shape[1:])
    window = frame.cut(image)
    near = [o for o in others if o != copy and _box(tile, o).meets(frame)]
    own = _union(tile, [copy], frame)
    if (own.alpha > VISIBLE).sum() < MIN_SHOWN:
        return CopyCheck(False, False)
    if near:
        around = _union(tile, near, frame)
        box, _ = overlap(copy.top - frame.top, copy.left - frame.left, tile.size, own.size)
        around.alpha[box.slices] = 0
        window = closed_form(window, around, chroma.within(frame))
    check = verify(own, window, lossy, chroma.within(frame))
    strict = check.problem is None and check.before >= MIN_CONFIDENCE
    confident = check.problem is None and check.before >= MIN_CONFIDENCE_IN_PLACE
    on_grid = copy.on_grid and (confident or check.problem_on_grid is None)
    return CopyCheck(strict, on_grid)


def _check_all(tile: Mark, start: Copy, proposed: list[Copy], image: np.ndarray,
               lossy: bool, chroma: ChromaGrid) -> list[Copy]:
    """The proposed copies the blend model confirms. Each is first checked with every other
    proposal inverted around it; where a refused one was among them, it is checked again with
    the confirmed ones only. A grid position earns the looser check only once another copy
    besides the first passed the usual one: a grid drawn through one stray peak does not."""
    everyone = [start, *proposed]
    checks = {c: _checked(tile, c, everyone, image, lossy, chroma) for c in proposed}
    corroborated = any(check.strict for check in checks.values())

    def passes(check: CopyCheck) -> bool:
        return check.strict or (corroborated and check.on_grid)

    kept = {c: passes(checks[c]) for c in proposed}
    refused = [c for c in proposed if not kept[c]]
    confirmed = [start, *(c for c in proposed if kept[c])]
    for copy in proposed:
        window = _window(tile, copy, image.shape[1:])
        if any(o != copy and _box(tile, o).meets(window) for o in refused):
            kept[copy] = passes(_checked(tile, copy, confirmed, image, lossy, chroma))
    return [c for c in proposed if kept[c]]


def find_copies(mark: Mark, image: np.ndarray, lossy: bool, first: Placement,
                chroma: ChromaGrid = FULL) -> Tiling:
    """Every copy of `mark` in `image` (C, H, W) on the grid through the confirmed `first`
    copy, or off it where correlation finds one, each checked by the blend model."""
    tile = mark.scaled(first.scale)
    start = Copy(first.top, first.left, on_grid=True)
    size = image.shape[1:]
    if tile.size[0] >= size[0] and tile.size[1] >= size[1]:
        return Tiling(tile, (start,), 0, None)
    grey = np.ascontiguousarray(image.mean(axis=0), dtype=np.float32)
    scores = TileScores.of(edges(grey), mark_signature(tile))
    proposed, grid = _proposals(scores, start)
    kept = _check_all(tile, start, proposed, image, lossy, chroma) if proposed else []
    return Tiling(tile, (start, *kept), len(proposed) - len(kept), grid)
