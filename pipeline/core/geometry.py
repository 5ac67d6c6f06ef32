"""One Box: rows [top, bottom) and columns [left, right) of an image, in pixels. Every room
cuts, places and pastes with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive

    @classmethod
    def at(cls, top: int, left: int, size: tuple[int, int]) -> Box:
        """The box of `size` (H, W) whose top-left corner is (top, left)."""
        return cls(top, top + size[0], left, left + size[1])

    @classmethod
    def whole(cls, size: tuple[int, int]) -> Box:
        return cls(0, size[0], 0, size[1])

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.height, self.width

    @property
    def rows(self) -> slice:
        return slice(self.top, self.bottom)

    @property
    def cols(self) -> slice:
        return slice(self.left, self.right)

    @property
    def slices(self) -> tuple[slice, slice]:
        return self.rows, self.cols

    def cut(self, array: np.ndarray) -> np.ndarray:
        """The box's pixels of an (..., H, W) array (a view)."""
        return array[..., self.rows, self.cols]

    def grown(self, margin: int, size: tuple[int, int]) -> Box:
        """The box and `margin` px around it, inside an image of `size` (H, W)."""
        return Box(max(0, self.top - margin), min(size[0], self.bottom + margin),
                   max(0, self.left - margin), min(size[1], self.right + margin))

    def meets(self, other: Box) -> bool:
        """Whether the two boxes share a pixel."""
        return (self.top < other.bottom and self.bottom > other.top and self.left < other.right
                and self.right > other.left)


def box_around(footprint: np.ndarray, margin: int) -> Box:
    """The bounding box of a non-empty (H, W) bool footprint, `margin` px wider on each side,
    inside the footprint's frame."""
    rows = np.nonzero(footprint.any(axis=1))[0]
    cols = np.nonzero(footprint.any(axis=0))[0]
    return Box(rows[0], rows[-1] + 1, cols[0], cols[-1] + 1).grown(margin, footprint.shape)


def overlap(top: int, left: int, box: tuple[int, int], size: tuple[int, int]) -> tuple[Box, Box]:
    """Where a box of `box` (H, W) at (top, left) meets a canvas of `size`: the part of the
    canvas and the same part in the box's own pixels (empty when they do not meet)."""
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = max(y0, min(size[0], top + box[0])), max(x0, min(size[1], left + box[1]))
    return Box(y0, y1, x0, x1), Box(y0 - top, y1 - top, x0 - left, x1 - left)
