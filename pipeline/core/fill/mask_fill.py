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

from pipeline.core.dip.inputs import FitInputs
from pipeline.core.fill.holdout import best_share, held_out
from pipeline.core.fill.structure import classic_fill
from pipeline.core.fill.texture import StructureFill, add_texture
from pipeline.settings import DipSettings


class CropFill(Protocol):
    """What one crop asks of the network, and what it makes of the answer."""

    @property
    def inputs(self) -> FitInputs: ...

    @property
    def fits(self) -> bool:
        """Whether the network is fitted at all (False: finish(None) is the whole fill)."""
        ...

    def finish(self, output: np.ndarray | None) -> np.ndarray: ...


@dataclass(frozen=True)
class Direct:
    """The network's output as it is (template mode: the blend model is the whole story)."""

    inputs: FitInputs
    fits: bool = True

    def finish(self, output: np.ndarray) -> np.ndarray:
        return output



@dataclass(frozen=True)
class MaskFill:
    """One crop in mask mode: which known pixels are held out, the classic fill that pulls the
    hole while fitting and mixes into the network's fill, and the texture stage that puts fine
    detail back (each as `settings` asks)."""

    inputs: FitInputs
    unknown: np.ndarray  # (H, W) bool: the hole
    inside: np.ndarray  # (H, W) bool: not padding
    classic: np.ndarray | None  # (C, H, W) biharmonic fill
    settings: DipSettings
    seed: int

    @classmethod
    def plan(
        cls,
        target: np.ndarray,
        weight: np.ndarray,
        inside: np.ndarray,
        settings: DipSettings,
        seed: int = 0,
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
        return cls(inputs, unknown, inside, classic, settings, seed)

    @property
    def holdout(self) -> np.ndarray | None:
        return self.inputs.holdout[0] if self.inputs.holdout is not None else None

    @property
    def fits(self) -> bool:
        return True

    def finish(self, output: np.ndarray) -> np.ndarray:
        """The network's fill, mixed and textured as the settings ask."""
        mixed, on_holdout = self.mix(output)
        if self.settings.texture_sigma <= 0:
            return mixed
        target, holdout = self.inputs.target, self.holdout
        structure = StructureFill(
            values=np.where(self.unknown[None], mixed, target),
            on_holdout=None if on_holdout is None else np.where(
                (self.unknown | holdout)[None], on_holdout, target),
        )
        return add_texture(structure, target, self.unknown, self.inside, holdout,
                           self.settings.texture_sigma, self.seed)

    def mix(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The network's fill mixed with the classic one, weighted by the held-out pixels; and
        what that mix predicted for the held-out pixels (None without them)."""
        holdout = self.holdout
        on_holdout = output if holdout is not None else None
        if not self.settings.classic_mix or self.classic is None:
            return output, on_holdout
        share = 0.5
        if holdout is not None:
            classic_on_holdout = classic_fill(self.inputs.target, self.unknown | holdout)
            share = best_share(output, classic_on_holdout, self.inputs.target, holdout)
            on_holdout = (1 - share) * output + share * classic_on_holdout
        return (1 - share) * output + share * self.classic, on_holdout
