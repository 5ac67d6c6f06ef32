"""Mask mode's fill of one crop: broad shapes mixed from classic fills (and the network's, where
one is fitted) on held-out pixels, fine detail topped up from an exemplar fill (texture.py).

On 2 CPU cores the network does not pay for itself here (bench/results.md: the default against
the same fill with a fitted network as a third candidate), so the default fits none: `fits` is
False and restore() never builds a network for the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.dip.inputs import FitInputs
from pipeline.core.fill.exemplar import exemplar_fill
from pipeline.core.fill.holdout import (
    BEYOND_EVIDENCE,
    SPREAD_ONLY,
    HeldOut,
    held_out_both_ways,
)
from pipeline.core.fill.structure import (
    CLASSIC_FILLS,
    SAFE_FILLS,
    StructureMix,
    local_weights,
    mix,
    skip_border,
)
from pipeline.core.fill.texture import top_up_detail
from pipeline.settings import DipSettings

WITH_NETWORK = "network+classic"
# Context around each crop for the classic fills: on the gt cases and stock previews 64 px gave
# HaarPSI 0.777 where 24 px gave 0.771 (FSR continues textures it can see).
CLASSIC_CONTEXT = 64
# A lossy file rings around a sharp mark: the classic fills continue from beyond that, or they draw
# the letters again (watermarked2's text; on lossless gt photos the same skip cost 2 dB).
LOSSY_BORDER_SKIP = 2


@dataclass(frozen=True)
class ClassicFill:
    """One crop (padded for the network) in mask mode with a classic structure fill."""

    inputs: FitInputs  # its holdout: the first look's held-out pixels (the network's score)
    unknown: np.ndarray  # (H, W) bool: the hole
    inside: np.ndarray  # (H, W) bool: not padding
    settings: DipSettings
    seed: int
    looks: tuple[HeldOut, ...] = ()  # held-out pixels: the hole shifted one way, and the other
    lossy: bool = False  # the pixels came from a lossy file

    @classmethod
    def plan(cls, target: np.ndarray, weight: np.ndarray, inside: np.ndarray,
             settings: DipSettings, seed: int = 0, lossy: bool = False) -> ClassicFill:
        """`weight` (1, H, W): 0 in the hole and the padding; `inside` (H, W): not padding."""
        unknown = (weight[0] <= 0) & inside
        looks = tuple(held_out_both_ways(unknown, inside))
        if not looks:
            return cls(FitInputs(target, weight), unknown, inside, settings, seed, (), lossy)
        held = looks[0].pixels
        inputs = FitInputs(target, weight * ~held[None], holdout=held[None])
        return cls(inputs, unknown, inside, settings, seed, looks, lossy)

    @property
    def fits(self) -> bool:
        """Whether the network is fitted for this crop at all."""
        return self.settings.fill == WITH_NETWORK and self.settings.steps > 0

    def finish(self, output: np.ndarray | None) -> np.ndarray:
        """The crop (C, H, W) with its hole filled; `output` is the network's, when it fitted."""
        structure = self.structure(output)
        if self.settings.texture_sigma <= 0:
            return structure.values
        target = self.inputs.target
        unused = ~self.inside  # padding, and in a lossy file the ringing next to the hole
        if self.lossy:
            unused = unused | (skip_border(self.unknown, LOSSY_BORDER_SKIP) & ~self.unknown)
        exemplar = exemplar_fill(target, self.unknown, self.seed, unused)
        return top_up_detail(structure.values, exemplar, target, self.unknown, self.inside,
                             self.settings.texture_sigma)

    def structure(self, output: np.ndarray | None) -> StructureMix:
        """The classic fills (and the network's output) mixed on the held-out pixels; the
        padding is cut off first, so that no fill copies from invented pixels."""
        rows, cols = np.nonzero(self.inside.any(axis=1))[0], np.nonzero(self.inside.any(axis=0))[0]
        height, width = rows[-1] + 1, cols[-1] + 1
        target = self.inputs.target[:, :height, :width]
        unknown = self.unknown[:height, :width]
        looks = [HeldOut(look.pixels[:height, :width], look.shift) for look in self.looks]
        skip = LOSSY_BORDER_SKIP if self.lossy else 0
        # without held-out pixels nothing says which fill is right, and a hole that is most of
        # its crop sends biharmonic to black: the safe fill alone fills it
        chosen = CLASSIC_FILLS if looks else SAFE_FILLS
        names = list(chosen)
        fills = [chosen[name](target, unknown, skip) for name in names]
        if output is not None:  # it was scored on the first look only: the other was fitted
            looks = looks[:1]
            names.append("network")
            fills.append(np.where(unknown[None], output[:, :height, :width], target))
        maps = []
        for look in looks:
            predictions = [CLASSIC_FILLS[name](target, unknown | look.pixels, skip)
                           for name in CLASSIC_FILLS]  # (with looks, names are all of them)
            if output is not None:
                predictions.append(output[:, :height, :width])
            maps.append(local_weights(predictions, target, look))
        mixed = mix(names, fills, maps, unknown)
        mixed = StructureMix(far_from_evidence(mixed.values, target, unknown, skip),
                             mixed.weights)
        values = self.inputs.target.copy()
        values[:, :height, :width] = np.where(unknown[None], mixed.values, target)
        return StructureMix(values, mixed.weights)


def far_from_evidence(values: np.ndarray, target: np.ndarray, unknown: np.ndarray, skip: int
                      ) -> np.ndarray:
    """`values` (C, H, W) turned, deep inside a large hole, into the safe spread fill: the
    held-out pixels judged the fills no farther than BEYOND_EVIDENCE from the border, and past
    that biharmonic drifts to black and FSR to flat grey; past SPREAD_ONLY it is the spread fill."""
    depth = ndimage.distance_transform_edt(unknown)
    if depth.max() <= BEYOND_EVIDENCE:
        return values
    spread = SAFE_FILLS["spread"](target, unknown, skip)
    toward = np.clip((depth - BEYOND_EVIDENCE) / (SPREAD_ONLY - BEYOND_EVIDENCE), 0, 1)[None]
    return ((1 - toward) * values + toward * spread).astype(np.float32)
