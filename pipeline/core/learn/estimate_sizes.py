"""Estimate a shared mark from photos of any sizes: photos of one size as estimate.py does
(a full-size template), photos of several sizes aligned on the mark's anchor first (anchor.py),
the mark estimated on the aligned windows and kept as its box, to be placed in each photo by
search as a logo file is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from pipeline.core.geometry import Box, box_around
from pipeline.core.learn.anchor import COMPARE_SIDE, Alignment, align, aligned_windows
from pipeline.core.learn.estimate import MIN_IMAGES, footprint, one_colour_mark
from pipeline.core.learn.joint_matte import refine_matte
from pipeline.core.mark.blend import Mark
from pipeline.errors import InputError
from pipeline.picture import Picture

REGION_MARGIN = 8  # frame px around the coarse footprint: room for the fill under the mark
SPECK = 0.01  # of the footprint's area: smaller specks are noise (an i's dot is larger)
FAINT = 0.25  # of the mark's peak opacity: specks that never reach it are noise, not the mark
# Photos shown at least this share of the frame's scale are sharp enough to fit the opacity on
# (an upsampled photo blurs the mark's edges); with too few of them, all are used.
SHARP_SCALE = 0.9
BOX_MARGIN = 2  # px of zero opacity around the mark's box: its outer edges stay in the template


@dataclass(frozen=True)
class Estimate:
    """A mark estimated from a folder, and how it sits on photos of several sizes (None: the
    photos share one size and the mark is a full-size template)."""

    mark: Mark
    alignment: Alignment | None = None


def rgb_images(pictures: Sequence[Picture], where: str) -> list[np.ndarray]:
    """Decoded photos -> (3, H, W) floats each; `where` names them in errors."""
    if len(pictures) < MIN_IMAGES:
        raise InputError(f"{where}: needs at least {MIN_IMAGES} images, found {len(pictures)}")
    return [_rgb(p.as_float()) for p in pictures]


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.shape[0] == 3:
        return image
    if image.shape[0] == 1:
        return np.repeat(image, 3, axis=0)
    raise InputError("estimation works on RGB or grey images")


def sizes_note(pictures: Sequence[Picture]) -> str | None:
    """How the photos differ in size, for messages; None when they share one."""
    sizes = Counter(p.size for p in pictures)
    if len(sizes) < 2:
        return None
    (height, width), count = sizes.most_common(1)[0]
    odd = next(p for p in pictures if p.size != (height, width))
    return (f"the images differ in size ({count} of {len(pictures)} are {width}x{height}, "
            f"{Path(odd.source).name} is {odd.size[1]}x{odd.size[0]})")


def estimate_pictures(pictures: Sequence[Picture], where: str) -> Estimate:
    """The mark shared by `pictures`, of one size or several; errors name `where`."""
    images = rgb_images(pictures, where)
    note = sizes_note(pictures)
    try:
        if note is None:
            stack = np.stack(images)
            return Estimate(without_specks(refine_matte(stack, one_colour_mark(stack))))
        return estimate_anchored(images)
    except InputError as problem:
        if note is None:
            raise InputError(f"{where}: {problem}") from None
        raise InputError(
            f"{where}: {note} and share no watermark at a fixed place from a corner or the "
            f"centre ({problem})"
        ) from None


def estimate_anchored(images: Sequence[np.ndarray]) -> Estimate:
    """Photos of several sizes: the best anchor and scale rule, the mark's region found on
    small windows, then estimated at full size on that region alone."""
    alignment = align(images)
    shrink = min(1.0, COMPARE_SIDE / max(alignment.window))
    coarse = footprint(aligned_windows(images, alignment, shrink))
    if not coarse.any():
        raise InputError("no common watermark found across the images")
    region = _region(coarse, shrink, alignment.window)
    windows = aligned_windows(images, alignment, region=region)
    sharp = np.asarray(alignment.scales) >= SHARP_SCALE * max(alignment.scales)
    used = windows[sharp] if sharp.sum() >= MIN_IMAGES else windows
    mark = refine_matte(used, one_colour_mark(used))
    return Estimate(boxed(mark), alignment)


def _region(coarse: np.ndarray, shrink: float, window: tuple[int, int]) -> Box:
    rows, cols = np.nonzero(coarse.any(axis=1))[0], np.nonzero(coarse.any(axis=0))[0]
    margin = REGION_MARGIN + int(np.ceil(2 / shrink))
    top = max(0, int(rows[0] / shrink) - margin)
    left = max(0, int(cols[0] / shrink) - margin)
    bottom = min(window[0], int(np.ceil((rows[-1] + 1) / shrink)) + margin)
    right = min(window[1], int(np.ceil((cols[-1] + 1) / shrink)) + margin)
    return Box(top, bottom, left, right)


def without_specks(mark: Mark) -> Mark:
    """The mark without the specks its estimate picks up from the photos (faint, or tiny)."""
    labels, count = ndimage.label(mark.alpha > 0, np.ones((3, 3)))
    index = np.arange(1, count + 1)
    peaks = ndimage.maximum(mark.alpha, labels, index=index)
    areas = ndimage.sum(np.ones_like(labels), labels, index=index)
    kept = (peaks >= FAINT * mark.alpha.max()) & (areas >= SPECK * areas.sum())
    where = np.isin(labels, index[kept])
    if not where.any():
        raise InputError("no common watermark found across the images")
    return Mark(np.where(where, mark.alpha, 0).astype(np.float32),
                np.where(where[None], mark.colour, 0).astype(np.float32))


def boxed(mark: Mark) -> Mark:
    """The mark cut to its box, with BOX_MARGIN px of zero opacity around it."""
    mark = without_specks(mark)
    box = box_around(mark.alpha > 0, 0)
    pad = ((BOX_MARGIN, BOX_MARGIN), (BOX_MARGIN, BOX_MARGIN))
    return Mark(alpha=np.pad(box.cut(mark.alpha), pad),
                colour=np.pad(box.cut(mark.colour), ((0, 0), *pad)))
