"""Several regions' fits as one: their networks are the members of one stacked generator
(generator.stack), so each step is one network call, one backward pass and one Adam update for
all of them.

Each member is the fit that `fit.fit` would run alone, to float rounding: it starts from the
same seed (the same weights, input and noise), its loss is its own term of the sum that is
minimised (so no gradient crosses members), Adam's moments are elementwise (so each member
keeps its own), and it keeps its own average, held-out score and early stop.

Batching pays where per-operation overhead dominates: small crops on a CPU, anything on a GPU.
On this project's 2-core CPU large crops lose together (their activations fall out of the
cache), so BatchLimits says, per device, which crops share a batch and how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline import devices
from pipeline.core.dip.fit import (
    FitHooks,
    FitInputs,
    FitResult,
    FitState,
    Member,
    Model,
    Problem,
    StepCallback,
    run,
    set_up,
)
from pipeline.core.dip.generator import SkipNet, stack
from pipeline.core.dip.inputs import group  # noqa: F401 (batches are grouped here too)
from pipeline.settings import DipSettings, RunOptions


@dataclass(frozen=True)
class BatchLimits:
    """Which fits may share a batch: crops up to `crop_pixels`, members x pixels up to
    `batch_pixels`."""

    crop_pixels: int
    batch_pixels: int

    @classmethod
    def of(cls, device: torch.device) -> BatchLimits:
        # CPU (2 cores, bench/speed.py): 8 crops of 64x64 fit 1.4-1.7x faster together, of
        # 32x32 2x; from 64x128 on it is even, 8 of 128x128 are 1.5x slower (out of the cache).
        # GPU: not measured yet; one call per step for many crops is what a GPU needs.
        if device.type == "cpu":
            return cls(crop_pixels=64 * 64, batch_pixels=8 * 64 * 64)
        return cls(crop_pixels=512 * 512, batch_pixels=16 * 256 * 256)

    def members(self, pixels: int) -> int:
        """How many fits of `pixels` each may run as one."""
        return 1 if pixels > self.crop_pixels else max(1, self.batch_pixels // pixels)


def batch_key(inputs: FitInputs) -> tuple:
    """Fits with equal keys can share a batch: the same shape and the same loss terms."""
    terms = (inputs.blend, inputs.prior, inputs.holdout)
    return (inputs.target.shape, *(term is None for term in terms))


@dataclass(frozen=True)
class StackedModel:
    """The members' networks as one, their inputs and noise generators, one optimiser."""

    net: SkipNet
    base_input: torch.Tensor  # (N, input_depth, H, W)
    perturbs: tuple[torch.Generator, ...]
    optimiser: torch.optim.Optimizer

    @classmethod
    def of(cls, models: list[Model], settings: DipSettings) -> StackedModel:
        net = stack([model.net for model in models])
        return cls(net, torch.cat([model.base_input for model in models]),
                   tuple(model.perturb for model in models),
                   torch.optim.Adam(net.parameters(), lr=settings.lr))

    def noisy_input(self, reg_noise: float, device: torch.device) -> torch.Tensor:
        if reg_noise <= 0:
            return self.base_input
        shape = (1, *self.base_input.shape[1:])
        noise = torch.cat([torch.randn(shape, generator=perturb, device=device)
                           for perturb in self.perturbs])
        return self.base_input + noise * reg_noise


def fit_batch(
    inputs: list[FitInputs],
    settings: DipSettings,
    seeds: list[int],
    runtime: RunOptions = RunOptions(),
    on_step: StepCallback | None = None,
) -> list[FitResult]:
    """`fit.fit` of each of `inputs` (all of one `batch_key`) with its seed, run as one.
    `on_step` hears the members' mean loss."""
    device = devices.pick(runtime.device)
    pairs = zip(inputs, seeds, strict=True)
    models = [set_up(x.target.shape, settings, seed, device) for x, seed in pairs]
    model = StackedModel.of(models, settings)
    problem = Problem.stack([Problem.on(x, device) for x in inputs])
    shared = FitState()  # the step and the members' average outputs, stacked
    members = [Member(FitState()) for _ in inputs]
    current = run(model, problem, settings, device, shared, members, runtime,
                  FitHooks(on_step=on_step))
    return [member.result(current[index : index + 1], shared.step)
            for index, member in enumerate(members)]
