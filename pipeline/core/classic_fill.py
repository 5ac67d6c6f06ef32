"""Mask mode's fill of one crop: broad shapes mixed from classic fills (and the network's, where
one is fitted) on held-out pixels, fine detail topped up from an exemplar fill (texture.py).

On 2 CPU cores the network does not pay for itself here (bench/results.md: the default against
the same fill with a fitted network as a third candidate), so the default fits none: `fits` is
False and restore() never builds a network for the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.exemplar import exemplar_fill
from pipeline.core.fit import FitInputs
from pipeline.core.holdout import held_out
from pipeline.core.structure import Candidate, StructureMix, classic_candidates, mix
from pipeline.core.texture import top_up_detail
from pipeline.settings import DipSettings

WITH_NETWORK = "network+classic"
# Context around each crop for the classic fills: on the gt cases and stock previews 64 px gave
# HaarPSI 0.777 where 24 px gave 0.771 (FSR continues textures it can see).
CLASSIC_CONTEXT = 64


@dataclass(frozen=True)
class ClassicFill:
    """One crop (padded for the network) in mask mode with a classic structure fill."""

    inputs: FitInputs
    unknown: np.ndarray  # (H, W) bool: the hole
    inside: np.ndarray  # (H, W) bool: not padding
    settings: DipSettings
    seed: int

    @classmethod
    def plan(cls, target: np.ndarray, weight: np.ndarray, inside: np.ndarray,
             settings: DipSettings, seed: int = 0) -> ClassicFill:
        """`weight` (1, H, W): 0 in the hole and the padding; `inside` (H, W): not padding."""
        unknown = weight[0] <= 0
        unknown &= inside
        holdout = held_out(unknown, inside)
        if holdout is not None:
            weight = weight * ~holdout[None]
        inputs = FitInputs(target, weight, holdout=None if holdout is None else holdout[None])
        return cls(inputs, unknown, inside, settings, seed)

    @property
    def fits(self) -> bool:
        """Whether the network is fitted for this crop at all."""
        return self.settings.fill == WITH_NETWORK and self.settings.steps > 0

    @property
    def holdout(self) -> np.ndarray | None:
        return None if self.inputs.holdout is None else self.inputs.holdout[0]

    def finish(self, output: np.ndarray | None) -> np.ndarray:
        """The crop (C, H, W) with its hole filled; `output` is the network's, when it fitted."""
        structure = self.structure(output)
        if self.settings.texture_sigma <= 0:
            return structure.values
        target = self.inputs.target
        exemplar = exemplar_fill(target, self.unknown, self.seed, ~self.inside)
        return top_up_detail(structure.values, exemplar, target, self.unknown, self.inside,
                             self.settings.texture_sigma)

    def structure(self, output: np.ndarray | None) -> StructureMix:
        """The classic fills (and the network's output) mixed on the held-out pixels; the
        padding is cut off first, so that no fill copies from invented pixels."""
        rows, cols = np.nonzero(self.inside.any(axis=1))[0], np.nonzero(self.inside.any(axis=0))[0]
        height, width = rows[-1] + 1, cols[-1] + 1
        target = self.inputs.target[:, :height, :width]
        unknown = self.unknown[:height, :width]
        holdout = None if self.holdout is None else self.holdout[:height, :width]
        candidates = classic_candidates(target, unknown, holdout)
        if output is not None:
            network = output[:, :height, :width]
            candidates.append(Candidate("network", np.where(unknown[None], network, target),
                                        None if holdout is None else network))
        mixed = mix(candidates, target, holdout)
        values = self.inputs.target.copy()
        values[:, :height, :width] = np.where(unknown[None], mixed.values, target)
        return StructureMix(values, mixed.weights)
