"""What a fit minimises: its inputs as tensors on the device, the loss of each fit in a stack,
and the error on the held-out pixels that scores it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from pipeline.core.dip.fit import FitInputs


def _per_member(values: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N,) sums: one per fit of a batch (a whole-tensor sum when N = 1)."""
    return values.sum(dim=(1, 2, 3))


@dataclass(frozen=True)
class Problem:
    """The fit's inputs as tensors on the device, with the sums that normalise each term. Every
    tensor leads with one row per fit: 1 here, N once `stack`ed for a batch of fits."""

    target: torch.Tensor
    weight: torch.Tensor
    weight_sum: torch.Tensor
    alpha: torch.Tensor | None = None
    mark: torch.Tensor | None = None  # alpha * colour
    holdout: torch.Tensor | None = None
    holdout_sum: torch.Tensor | None = None
    prior: torch.Tensor | None = None
    unknown: torch.Tensor | None = None  # where the prior pulls: the hole less held-out pixels
    unknown_sum: torch.Tensor | None = None

    @classmethod
    def on(cls, inputs: FitInputs, device: torch.device) -> Problem:
        def put(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array)[None].to(device)

        channels = inputs.target.shape[0]
        weight = put(inputs.weight)
        terms: dict[str, torch.Tensor] = {}
        if inputs.blend is not None:
            terms["alpha"] = put(inputs.blend.alpha)
            terms["mark"] = terms["alpha"] * put(inputs.blend.colour)
        if inputs.holdout is not None:
            terms["holdout"] = put(inputs.holdout.astype(np.float32))
            terms["holdout_sum"] = _per_member(terms["holdout"]).clamp_min(1.0) * channels
        if inputs.prior is not None:
            unknown = (weight <= 0).float()
            if "holdout" in terms:  # held-out pixels are scored, never pulled towards anything
                unknown = unknown * (1 - terms["holdout"])
            terms.update(prior=put(inputs.prior), unknown=unknown,
                         unknown_sum=_per_member(unknown).clamp_min(1.0) * channels)
        weight_sum = _per_member(weight).clamp_min(1.0) * channels
        return cls(put(inputs.target), weight, weight_sum, **terms)

    @classmethod
    def stack(cls, problems: list[Problem]) -> Problem:
        """Several fits' problems as one; all must hold the same terms on the same shape."""
        fields = dataclasses.fields(cls)
        return cls(**{
            f.name: None if getattr(problems[0], f.name) is None
            else torch.cat([getattr(p, f.name) for p in problems])
            for f in fields
        })

    def losses(self, output: torch.Tensor, prior_weight: float) -> torch.Tensor:
        """(N,) each fit's loss; their sum is minimised, so no fit's gradient reaches another."""
        seen = output if self.mark is None else self.mark + (1 - self.alpha) * output
        losses = _per_member((seen - self.target) ** 2 * self.weight) / self.weight_sum
        if self.prior is not None and prior_weight > 0:
            pull = _per_member((output - self.prior) ** 2 * self.unknown) / self.unknown_sum
            losses = losses + prior_weight * pull
        return losses

    def holdout_errors(self, current: torch.Tensor) -> torch.Tensor:
        """(N,) mean squared error of each fit on its held-out pixels."""
        return _per_member((current - self.target) ** 2 * self.holdout) / self.holdout_sum
