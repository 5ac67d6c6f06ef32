"""Mask mode, region by region: each part of the mask (strokes closer than GROUP px belong
together) is estimated on its own, and a translucent mark found there is un-blended (template
mode's recover: the exact inverse where the model explains a pixel, the network where it is
opaque or unexplained) while an opaque one, or none, is inpainted. A stock preview's
translucent logo and its opaque image number get each their own treatment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.fill.restore import Observers, restore
from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import VISIBLE, Mark, closed_form, recover
from pipeline.core.mark.leftover import mark_left
from pipeline.core.separate.separate import separate
from pipeline.picture import Picture
from pipeline.settings import DipSettings, RunOptions

SEPARATED, INPAINTED, MIXED = "separated", "inpainted", "separated+inpainted"
GROUP = 8  # px: mask strokes closer than this are one region (the letters of one word)
# A separation is kept only if, once un-blended, the region's edges no longer follow the
# estimated matte's, and followed them clearly more before: marked regions measured -0.28 to
# 0.17 after and a drop of 0.19-0.98; real stock previews whose outline still showed, 0.27-0.72
# after; a clean photo's "mark" drops 0.02-0.36. Such a region is inpainted instead.
MARK_LEFT = 0.2
MIN_DROP = 0.15
CHECK_MARGIN = 12  # px around the mark's box where the edges are compared


@dataclass(frozen=True)
class MaskOutcome:
    """A mask job's result: the picture, how its mask was treated ("separated": un-blended
    with the estimated mark; "inpainted": filled as a hole; both, region by region) and the
    mark's estimated opacity (mean over what was separated, else the first region's estimate)."""

    picture: Picture
    route: str
    opacity: float
    mark: Mark | None  # the estimated mark where separated (to save as a template)


@dataclass(frozen=True)
class _Plan:
    mark: Mark  # the translucent marks found, full size (opacity 0 elsewhere)
    inpaint: np.ndarray  # the regions to fill as holes (bool H x W)
    opacity: float


def regions(hole: np.ndarray) -> list[np.ndarray]:
    """The mask split into parts more than GROUP px apart (bool H x W each)."""
    labels, count = ndimage.label(ndimage.binary_dilation(hole, iterations=GROUP // 2))
    return [(labels == index) & hole for index in range(1, count + 1)]


def _plan(image: np.ndarray, hole: np.ndarray) -> _Plan:
    alpha = np.zeros(hole.shape, np.float32)
    colour = np.zeros(image.shape, np.float32)
    inpaint = np.zeros_like(hole)
    opacities = []
    for region in regions(hole):
        found = separate(image, region)
        if found.separable and _gone(image, found.mark):
            alpha += found.mark.alpha
            colour[:, region] = found.mark.colour[:, region]
            opacities.append((found.opacity, float((found.mark.alpha > VISIBLE).sum())))
        else:
            inpaint |= region
            if not opacities:
                opacities.append((found.opacity, 0.0))
    weights = np.array([weight for _, weight in opacities])
    values = np.array([value for value, _ in opacities])
    mean = float((values * weights).sum() / weights.sum()) if weights.sum() else float(values[0])
    return _Plan(Mark(alpha, colour), inpaint, mean)


def _gone(image: np.ndarray, mark: Mark) -> bool:
    """Does un-blending `mark` take its edges away? (Checked on the mark's box.)"""
    box = box_around(mark.alpha > VISIBLE, CHECK_MARGIN)
    local = mark.cut(box)
    before = mark_left(box.cut(image), local.alpha)
    after = mark_left(closed_form(box.cut(image), local), local.alpha)
    return after <= MARK_LEFT and before - after >= MIN_DROP


def remove_in_mask(picture: Picture, hole: np.ndarray, settings: DipSettings,
                   runtime: RunOptions = RunOptions(),
                   observers: Observers = Observers()) -> MaskOutcome:
    """Mask mode: un-blend the translucent marks found in the mask's regions, inpaint the rest
    (all of it unless settings.separate). Pixels outside the mask are never touched."""
    if not settings.separate or not hole.any():
        return MaskOutcome(restore(picture, hole, settings, runtime, observers), INPAINTED,
                           1.0, None)
    plan = _plan(picture.as_float(), hole)
    separated = bool((plan.mark.alpha > VISIBLE).any())
    if separated:
        picture = recover(picture, plan.mark, settings, runtime, observers).picture
    if plan.inpaint.any():
        picture = restore(picture, plan.inpaint, settings, runtime, observers)
    route = (MIXED if plan.inpaint.any() else SEPARATED) if separated else INPAINTED
    return MaskOutcome(picture, route, plan.opacity, plan.mark if separated else None)
