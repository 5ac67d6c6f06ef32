"""Where a mark sits on photos that differ in size: at a fixed offset from a corner or the centre,
either in fixed pixels or scaled with the photo (AI image services stamp a 48 px mark 32 px from
the bottom-right corner of small images and a 96 px one 64 px from it on large ones).

Each hypothesis (anchor x scale rule) cuts a window at the anchor from every photo, resampled
to one frame: the pixels of the photo with the longest short side. Where the hypothesis is right
the mark lines up across the windows and the per-pixel median of their gradients keeps its
outline (estimate.py); where it is wrong the median keeps little. The evidence is the share
of the windows' typical gradient energy that the median keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.core.geometry import Box
from pipeline.core.learn.estimate import median_gradient_magnitude

COMPARE_SIDE = 384  # px: windows are compared at most this long a side (the estimate is full size)
ENERGY_FLOOR = 1e-4  # per pixel: flat windows (sky) do not score by chance


class Anchor(str, Enum):
    TOP_LEFT = "top-left corner"
    TOP_RIGHT = "top-right corner"
    BOTTOM_LEFT = "bottom-left corner"
    BOTTOM_RIGHT = "bottom-right corner"
    CENTRE = "centre"

    def __str__(self) -> str:
        return self.value


class ScaleRule(str, Enum):
    FIXED = "fixed size"
    SHORT_SIDE = "scales with the short side"
    LONG_SIDE = "scales with the long side"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Alignment:
    """How the mark sits on the photos: the anchor, the scale rule and what that makes of each
    photo (its scale against the frame), the window cut at the anchor (frame pixels), and the
    evidence for it (0: nothing lines up; 1: the windows' gradients all agree)."""

    anchor: Anchor
    rule: ScaleRule
    scales: tuple[float, ...]  # one per photo: its pixels per frame pixel
    window: tuple[int, int]  # (height, width) in frame pixels
    evidence: float

    def describe(self) -> str:
        return f"anchored at the {self.anchor}, {self.rule}"


def rule_scales(sizes: Sequence[tuple[int, int]], rule: ScaleRule) -> tuple[float, ...]:
    """Each photo's pixels per frame pixel under `rule`; the frame is the longest short side."""
    if rule is ScaleRule.FIXED:
        return tuple(1.0 for _ in sizes)
    side = min if rule is ScaleRule.SHORT_SIDE else max
    frame = max(side(size) for size in sizes)
    return tuple(side(size) / frame for size in sizes)


def window_size(sizes: Sequence[tuple[int, int]], scales: Sequence[float]) -> tuple[int, int]:
    """The window every photo holds at any anchor, in frame pixels."""
    height = min(h / s for (h, _), s in zip(sizes, scales, strict=True))
    width = min(w / s for (_, w), s in zip(sizes, scales, strict=True))
    return max(1, int(height)), max(1, int(width))


def window_corner(
    size: tuple[int, int], anchor: Anchor, scale: float, window: tuple[int, int]
) -> tuple[float, float]:
    """The window's top-left corner (top, left) on one photo, in its own pixels, fractional."""
    height, width = size
    box_h, box_w = window[0] * scale, window[1] * scale
    top = {Anchor.TOP_LEFT: 0.0, Anchor.TOP_RIGHT: 0.0, Anchor.CENTRE: (height - box_h) / 2}.get(
        anchor, height - box_h)
    left = {Anchor.TOP_LEFT: 0.0, Anchor.BOTTOM_LEFT: 0.0, Anchor.CENTRE: (width - box_w) / 2}.get(
        anchor, width - box_w)
    return top, left


def cut(image: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
        ) -> np.ndarray:
    """image (C, H, W) -> (C, *size): the box resampled (bicubic, antialiased when shrinking);
    `box` is fractional, in Pillow's order (left, top, right, bottom)."""
    height, width = size
    return np.stack([
        np.asarray(Image.fromarray(np.ascontiguousarray(channel, np.float32), "F").resize(
            (width, height), Image.Resampling.BICUBIC, box=box))
        for channel in image
    ]).clip(0, 1)


def aligned_windows(
    images: Sequence[np.ndarray], alignment: Alignment, shrink: float = 1.0,
    region: Box | None = None,
) -> np.ndarray:
    """(N, C, h, w): each photo's window at the anchor (or `region` of it, a box in frame
    pixels), in frame pixels times `shrink`."""
    region = region or Box.whole(alignment.window)
    size = (max(1, round(region.height * shrink)), max(1, round(region.width * shrink)))
    cuts = []
    for image, scale in zip(images, alignment.scales, strict=True):
        top, left = window_corner(image.shape[1:], alignment.anchor, scale, alignment.window)
        left, top = left + region.left * scale, top + region.top * scale
        box = (left, top, left + region.width * scale, top + region.height * scale)
        cuts.append(cut(image, box, size))
    return np.stack(cuts)


def evidence(windows: np.ndarray) -> float:
    """Share of the windows' typical gradient energy that their median gradient keeps."""
    grey = windows.mean(axis=1)
    energy = np.median(np.stack([
        ndimage.sobel(g, axis=0) ** 2 + ndimage.sobel(g, axis=1) ** 2 for g in grey]), axis=0)
    kept = median_gradient_magnitude(windows) ** 2
    return float(kept.sum() / (energy.sum() + ENERGY_FLOOR * energy.size))


def hypotheses(sizes: Sequence[tuple[int, int]]) -> list[Alignment]:
    """Every anchor under every scale rule that gives the photos distinct scales."""
    found: list[Alignment] = []
    seen: set[tuple[float, ...]] = set()
    for rule in ScaleRule:
        scales = rule_scales(sizes, rule)
        key = tuple(round(s, 4) for s in scales)
        if key in seen:
            continue
        seen.add(key)
        window = window_size(sizes, scales)
        found += [Alignment(anchor, rule, scales, window, 0.0) for anchor in Anchor]
    return found


def align(images: Sequence[np.ndarray]) -> Alignment:
    """The hypothesis under which the photos' windows agree most, its evidence filled in."""
    sizes = [image.shape[1:] for image in images]
    scored = []
    for hypothesis in hypotheses(sizes):
        shrink = min(1.0, COMPARE_SIDE / max(hypothesis.window))
        windows = aligned_windows(images, hypothesis, shrink)
        scored.append(replace(hypothesis, evidence=evidence(windows)))
    return max(scored, key=lambda a: a.evidence)
