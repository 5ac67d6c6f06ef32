"""The grid a tiled mark repeats on: one or two period vectors (a row offset, a stagger and a
slant are all just a second vector) through the copy the search found, fitted to the offsets of
the other copies that edge correlation picked out. A spurious peak, or a copy off the grid, is an
outlier: the basis kept is the pair of short offsets that explains the most peaks."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

BASIS_CANDIDATES = 8  # the shortest offsets tried as period vectors
TOLERANCE = 2.0  # px: an offset this close to a grid point counts as on the grid
MIN_PERIOD = 3.0  # px
MIN_SINE = 0.25  # two period vectors closer to parallel than this are one direction
MIN_SECOND_DIRECTION = 2  # peaks off the first direction a second one must explain
MAX_POINTS = 5000


@dataclass(frozen=True)
class Grid:
    """Copies at origin + i * vectors[0] (+ j * vectors[1]), in (top, left) pixels."""

    origin: np.ndarray  # (2,) float
    vectors: np.ndarray  # (1, 2) or (2, 2) float: the periods, one a row

    def points(self, box: tuple[int, int], size: tuple[int, int]) -> list[tuple[int, int]]:
        """Every grid position (top, left) where a box of `box` (H, W) meets a canvas of
        `size`, copies cut by its border included."""
        low = np.array([1 - box[0], 1 - box[1]], float)
        high = np.array([size[0] - 1, size[1] - 1], float)
        corners = np.array([[y, x] for y in (low[0], high[0]) for x in (low[1], high[1])])
        coords = _coordinates(corners - self.origin, self.vectors)
        ranges = [range(math.floor(c.min()) - 1, math.ceil(c.max()) + 2) for c in coords.T]
        if math.prod(len(r) for r in ranges) > MAX_POINTS:
            return []
        found = []
        for index in itertools.product(*ranges):
            top, left = np.rint(self.origin + np.array(index, float) @ self.vectors).astype(int)
            if low[0] <= top <= high[0] and low[1] <= left <= high[1]:
                found.append((int(top), int(left)))
        return found

    def describe(self) -> str:
        periods = ", ".join(f"({dy:.1f}, {dx:.1f})" for dy, dx in self.vectors)
        return f"period {periods} px (down, across)"


def _coordinates(offsets: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Offsets (N, 2) in units of the vectors: least squares for one vector, exact for two."""
    if len(vectors) == 1:
        return (offsets @ vectors[0] / float(vectors[0] @ vectors[0]))[:, None]
    return offsets @ np.linalg.inv(vectors)


def _on_grid(offsets: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inliers, integer coordinates) of offsets on the grid the vectors span."""
    coords = np.rint(_coordinates(offsets, vectors))
    residual = np.linalg.norm(offsets - coords @ vectors, axis=1)
    return residual <= TOLERANCE, coords


def _best_basis(offsets: np.ndarray) -> np.ndarray | None:
    """The vectors among the shortest offsets whose grid explains the most offsets; ties go to
    the smaller cell (a grid of every second copy explains fewer peaks, never more)."""
    lengths = np.linalg.norm(offsets, axis=1)
    short = offsets[np.argsort(lengths)][:BASIS_CANDIDATES]
    short = short[np.linalg.norm(short, axis=1) >= MIN_PERIOD]
    if len(short) == 0:
        return None
    one = max(((int(_on_grid(offsets, v[None])[0].sum()), -float(np.linalg.norm(v))), i)
              for i, v in enumerate(short))
    best: np.ndarray = short[one[1]][None]
    two = None
    for v, w in itertools.combinations(short, 2):
        area = abs(float(v[0] * w[1] - v[1] * w[0]))
        if area < MIN_SINE * float(np.linalg.norm(v) * np.linalg.norm(w)):
            continue
        pair = np.stack([v, w])
        inliers, coords = _on_grid(offsets, pair)
        off_line = int((inliers & (coords[:, 1] != 0)).sum())
        key = (int(inliers.sum()), -area)
        if off_line >= MIN_SECOND_DIRECTION and (two is None or key > two[0]):
            two = (key, pair)
    if two is not None and two[0][0] > one[0][0]:
        best = two[1]
    return best


def fit_grid(first: tuple[int, int], peaks: list[tuple[int, int]]) -> Grid | None:
    """The grid through `first` that the peaks (other copies' positions) lie on, its periods
    refined by least squares over the peaks on it; None when no period shows."""
    origin = np.array(first, float)
    offsets = np.array([p for p in peaks if p != first], float).reshape(-1, 2) - origin
    if len(offsets) == 0:
        return None
    basis = _best_basis(offsets)
    if basis is None:
        return None
    inliers, coords = _on_grid(offsets, basis)
    if inliers.sum() < len(basis):
        return None
    design = np.column_stack([np.ones(int(inliers.sum()) + 1),
                              np.vstack([np.zeros(len(basis)), coords[inliers]])])
    positions = np.vstack([np.zeros(2), offsets[inliers]]) + origin
    solution = np.linalg.lstsq(design, positions, rcond=None)[0]
    return Grid(origin=solution[0], vectors=solution[1:])
