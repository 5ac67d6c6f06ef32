"""Does a finished job look right? A residual check computed by unmark itself, and the doubts
that flag a job for a person to look at first.

- ghost: how much the output's edges still follow the mark's edges (Pearson correlation, over
  the mark's footprint and a few pixels around it). The mark's edges are the template's opacity
  edges (template jobs) or the input's own edges inside the mask (mask jobs: the mark as it was
  seen). Near 0 when the mark is gone, near 1 when it is still there.
- changed outside: the share of pixels away from the footprint (dilated a few pixels) that
  changed by more than a JPEG's noise does (12 levels of 255, any channel). 0 in lossless
  outputs; anything beyond a sliver means the job touched what it had no reason to touch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.core.mark.leftover import FOOTPRINT_ALPHA, dilate, mark_left

GHOST = 0.6  # ghost correlation above which the mark (or its outline) still shows
CHANGED_LEVELS = 12 / 255  # a change this big is more than codec noise
CHANGED_OUTSIDE = 0.01  # share of far pixels allowed to change that much (lossy outputs)
LOW_CONFIDENCE = 0.4  # placement confidence below which a template job is doubtful
NEAR = 3  # px: changes this close to the footprint are the fill's own


@dataclass(frozen=True)
class Residual:
    ghost: float  # output's edges vs the mark's edges: ~0 gone, ~1 still there
    ghost_before: float  # the same for the input (how visible the mark was)
    changed_outside: float  # share of pixels away from the mark changed beyond codec noise

    def as_dict(self) -> dict:
        return {key: round(value, 4) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Residual | None:
        try:
            return cls(float(data["ghost"]), float(data["ghost_before"]),
                       float(data["changed_outside"]))
        except (KeyError, TypeError, ValueError):
            return None


def _channels(pixels: np.ndarray) -> np.ndarray:
    """(H, W[, C]) pixels -> (H, W, C) float in [0, 1]."""
    scale = float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind in "ui" else 1.0
    values = pixels.astype(np.float32) / scale
    return values if values.ndim == 3 else values[..., None]


def residual(
    before: np.ndarray, after: np.ndarray, opacity: np.ndarray, from_template: bool
) -> Residual:
    """The residual check of one output. `opacity` (H, W) in [0, 1]: the placed template's alpha,
    or the mask (1 = removed)."""
    footprint = opacity > FOOTPRINT_ALPHA
    if not footprint.any() or before.shape[:2] != after.shape[:2]:
        return Residual(0.0, 0.0, 0.0)
    shown, output = _channels(before).transpose(2, 0, 1), _channels(after).transpose(2, 0, 1)
    seen = None if from_template else shown  # a mask job: the mark as the input shows it
    ghost = mark_left(output, opacity, seen)
    ghost_before = mark_left(shown, opacity, seen)
    far = ~dilate(footprint, NEAR)
    changed = np.abs(_channels(after) - _channels(before)).max(axis=2) > CHANGED_LEVELS
    share = float(changed[far].mean()) if far.any() else 0.0
    return Residual(max(ghost, 0.0), max(ghost_before, 0.0), share)


def doubts(
    failed: str | None, confidence: float | None, check: Residual | None
) -> tuple[str, ...]:
    """Why a person should look at this job first; empty when nothing looks wrong."""
    if failed is not None:
        return (f"failed: {failed}",)
    found = []
    if confidence is not None and confidence < LOW_CONFIDENCE:
        found.append(f"low placement confidence {confidence:.2f}")
    if check is not None and check.ghost > GHOST:
        found.append(f"the mark still shows (edge correlation {check.ghost:.2f})")
    if check is not None and check.changed_outside > CHANGED_OUTSIDE:
        found.append(f"{check.changed_outside:.1%} of pixels changed far from the mark")
    return tuple(found)
