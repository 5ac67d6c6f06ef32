"""Mask mode's aids around the network fit of one crop: a classic (biharmonic) fill, known pixels
held out to score the fit, and the mix of the two fills that best predicts them.

A crop fill has a typed interface (`CropFill`): the FitInputs it asks of the network, and how it
finishes the network's output. Template mode fits the blend model instead (`Direct`); another
fill (an exemplar fill, a texture term) can be a module of its own beside this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage
from skimage.restoration import inpaint_biharmonic

from pipeline.core.fit import FitInputs
from pipeline.settings import DipSettings

HOLDOUT_SHIFTS = (6, 12, 24, 48)
MIN_HELD_OUT = 16


class CropFill(Protocol):
    """What one crop asks of the network, and what it makes of the answer."""

    @property
    def inputs(self) -> FitInputs: ...

    def finish(self, output: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Direct:
    """The network's output as it is (template mode: the blend model is the whole story)."""

    inputs: FitInputs

    def finish(self, output: np.ndarray) -> np.ndarray:
        return output


def classic_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of (C, H, W) floats: smooth, fast, a good start for the network."""
    filled = inpaint_biharmonic(image.transpose(1, 2, 0), unknown, channel_axis=-1)
    return np.clip(filled, 0, 1).transpose(2, 0, 1).astype(np.float32)


def held_out(unknown: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Known pixels shaped like the hole: the hole shifted to where the pixels are known, clear of
    the hole's edge. Of the shifts tried, the one that holds out the most pixels wins."""
    near_hole = ndimage.binary_dilation(unknown, iterations=2)
    allowed = inside & ~near_hole
    best, best_count = None, 0
    for distance in HOLDOUT_SHIFTS:
        for dy, dx in ((distance, 0), (-distance, 0), (0, distance), (0, -distance)):
            shifted = np.roll(unknown & inside, (dy, dx), axis=(0, 1)) & allowed
            count = int(shifted.sum())
            if count > best_count:
                best, best_count = shifted, count
    if best is None or best_count < MIN_HELD_OUT:
        return None
    return best


def best_share(
    network: np.ndarray, classic: np.ndarray, target: np.ndarray, holdout: np.ndarray
) -> float:
    """The mix weight of the classic fill that best predicts the held-out pixels (least squares,
    clipped to [0, 1])."""
    difference = (classic - network)[:, holdout]
    residual = (target - network)[:, holdout]
    denominator = float((difference**2).sum())
    if denominator <= 0:
        return 0.5
    return float(np.clip((difference * residual).sum() / denominator, 0.0, 1.0))


@dataclass(frozen=True)
class MaskFill:
    """One crop in mask mode: which known pixels are held out, and the classic fill that pulls
    the hole while fitting and mixes into the result (each as `settings` asks)."""

    inputs: FitInputs
    unknown: np.ndarray  # (H, W) bool: the hole
    classic: np.ndarray | None  # (C, H, W) biharmonic fill
    mix: bool  # settings.classic_mix

    @classmethod
    def plan(
        cls, target: np.ndarray, weight: np.ndarray, inside: np.ndarray, settings: DipSettings
    ) -> MaskFill:
        """`weight` (1, H, W): 0 in the hole and the padding; `inside` (H, W): not padding."""
        unknown = weight[0] <= 0
        holdout = held_out(unknown, inside) if settings.holdout else None
        if holdout is not None:
            weight = weight * ~holdout[None]
        classic = None
        if settings.classic_mix or settings.prior_weight > 0:
            classic = classic_fill(target, unknown)
        inputs = FitInputs(
            target,
            weight,
            prior=classic if settings.prior_weight > 0 else None,
            holdout=holdout[None] if holdout is not None else None,
        )
        return cls(inputs, unknown, classic, settings.classic_mix)

    def finish(self, output: np.ndarray) -> np.ndarray:
        """The network's fill mixed with the classic one, weighted by the held-out pixels."""
        if not self.mix or self.classic is None:
            return output
        share = 0.5
        holdout = self.inputs.holdout
        if holdout is not None:
            classic_on_holdout = classic_fill(self.inputs.target, self.unknown | holdout[0])
            share = best_share(output, classic_on_holdout, self.inputs.target, holdout[0])
        return (1 - share) * output + share * self.classic
