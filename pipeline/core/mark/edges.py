"""Edge maps, what placement, tiling and verification compare: a photo's edges, the edges a mark
adds to a photo (its signature), the pixels near them, and an edge map's pyramid levels."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from pipeline.core.mark.blend import Mark


def edges(grey: np.ndarray) -> np.ndarray:
    """Gradient magnitude (Sobel) of a float32 (H, W) image."""
    grey = np.ascontiguousarray(grey, dtype=np.float32)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return cv2.magnitude(dx, dy)


def mark_signature(mark: Mark) -> np.ndarray:
    """What the mark adds to a photo's edges: the edges of its opacity, scaled by its contrast."""
    return edges(mark.alpha * (0.25 + np.abs(mark.colour.mean(axis=0) - 0.5)))


def near_edges(signature: np.ndarray) -> np.ndarray:
    return ndimage.binary_dilation(signature > 0.05 * signature.max(), iterations=2)


def shrink(edge_map: np.ndarray, level: int) -> np.ndarray:
    """An edge map averaged down 2**level times: thin strokes keep their energy (shrinking the
    photo first would blur them into the background)."""
    if level == 0:
        return edge_map
    height, width = edge_map.shape
    size = (max(1, round(width / 2**level)), max(1, round(height / 2**level)))
    return cv2.resize(edge_map, size, interpolation=cv2.INTER_AREA)
