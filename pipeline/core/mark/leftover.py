"""Does a mark still show? How much an image's edges follow the mark's own edges (Pearson
correlation of edge strengths over the mark's footprint and a few pixels around it): near 0
when the mark is gone, near 1 when it (or its outline) is still there. Used by mask mode to
check a separation before keeping it, and by the batch review of finished jobs."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.geometry import box_around

EDGE_MARGIN = 4  # px around the footprint where the edges are compared
FOOTPRINT_ALPHA = 0.02  # a matte pixel at least this opaque is part of the mark


def edge_strength(grey: np.ndarray) -> np.ndarray:
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.GaussianBlur(np.hypot(dx, dy), (0, 0), 1.0)  # a pixel of shift still matches


def dilate(footprint: np.ndarray, pixels: int) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(footprint.astype(np.uint8), kernel) > 0


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    first, second = first - first.mean(), second - second.mean()
    norm = float(np.sqrt((first * first).sum() * (second * second).sum()))
    return float((first * second).sum() / norm) if norm > 1e-12 else 0.0


def _grey(image: np.ndarray) -> np.ndarray:
    return image.mean(axis=0).astype(np.float32)


def mark_left(image: np.ndarray, alpha: np.ndarray, seen: np.ndarray | None = None) -> float:
    """How much `image` ((C, H, W) floats) still shows the mark whose matte is `alpha` (H, W).
    The mark's edges are the matte's own, or those of `seen` (an image like `image` that
    shows the mark: a mask job's input, where the matte is only the mask)."""
    footprint = alpha > FOOTPRINT_ALPHA
    if not footprint.any():
        return 0.0
    near = dilate(footprint, EDGE_MARGIN)
    box = box_around(dilate(footprint, EDGE_MARGIN + 3), 0)  # edges at a crop's border lie
    grey = _grey(box.cut(image))
    if seen is None:
        mark = edge_strength(box.cut(alpha).astype(np.float32))
    else:
        mark = edge_strength(_grey(box.cut(seen)))
    return correlation(edge_strength(grey)[box.cut(near)], mark[box.cut(near)])
