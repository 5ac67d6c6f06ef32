"""The optimiser for one region: fit a fresh generator to the known pixels, return its output.

Mask mode fits out ~ target where weight > 0. Template mode adds a forward model: what the
camera saw is the mark blended over the photo, so it fits alpha*colour + (1-alpha)*out ~ target.
The loop reads top to bottom: set up, step, score, report, checkpoint, stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from pipeline import devices
from pipeline.core.dip.generator import build_skip
from pipeline.core.dip.inputs import (  # noqa: F401 (the loop's types, also reached from here)
    Blend,
    Checkpointer,
    FitHooks,
    FitInputs,
    SnapshotCallback,
    StepCallback,
)
from pipeline.core.dip.problem import Problem
from pipeline.settings import DipSettings, RunOptions

REPORT_EVERY = 5


@dataclass
class FitState:
    """What a resumed fit needs besides the network: where it is, and the best output so far."""

    step: int = 0
    average: torch.Tensor | None = None  # exponential average of outputs (settings.output_ema)
    best: torch.Tensor | None = None  # the best output on the held-out pixels
    best_error: float = float("inf")
    stale: int = 0  # checks since the held-out error last improved

    def track(self, output: torch.Tensor, ema: float) -> torch.Tensor:
        """Fold the latest output into the average; the output that counts now."""
        if ema > 0:
            if self.average is None:
                self.average = output.clone()
            else:
                self.average.lerp_(output, 1 - ema)
        return self.average if self.average is not None else output

    def score(self, current: torch.Tensor, error: float) -> None:
        if error < self.best_error:
            self.best_error, self.best, self.stale = error, current.clone(), 0
        else:
            self.stale += 1


@dataclass(frozen=True)
class FitCheckpoint:
    """One region's optimiser state, on the CPU: enough to go on as if never stopped."""

    state: FitState
    net: dict
    optimiser: dict
    perturb: torch.Tensor  # the input-noise generator's state


@dataclass(frozen=True)
class FitResult:
    output: np.ndarray  # (C, H, W) float32 in [0, 1]; the best on the held-out pixels, if any
    steps: int
    loss: float
    holdout_error: float | None = None  # mean squared error on the held-out pixels


@dataclass(frozen=True)
class Model:
    """The generator, its fixed input, the input-noise generator and the optimiser."""

    net: torch.nn.Module
    base_input: torch.Tensor
    perturb: torch.Generator
    optimiser: torch.optim.Optimizer

    def checkpoint(self, state: FitState) -> FitCheckpoint:
        cpu = replace(
            state,
            average=state.average.cpu() if state.average is not None else None,
            best=state.best.cpu() if state.best is not None else None,
        )
        return FitCheckpoint(cpu, self.net.state_dict(), self.optimiser.state_dict(),
                             self.perturb.get_state())

    def noisy_input(self, reg_noise: float, device: torch.device) -> torch.Tensor:
        """The fixed input, perturbed afresh each step (reg_noise: the reference's jitter)."""
        if reg_noise <= 0:
            return self.base_input
        noise = torch.randn(self.base_input.shape, generator=self.perturb, device=device)
        return self.base_input + noise * reg_noise

    def resume(self, saved: FitCheckpoint, device: torch.device) -> FitState:
        self.net.load_state_dict(saved.net)
        self.optimiser.load_state_dict(saved.optimiser)
        self.perturb.set_state(saved.perturb)
        return replace(
            saved.state,
            average=saved.state.average.to(device) if saved.state.average is not None else None,
            best=saved.state.best.to(device) if saved.state.best is not None else None,
        )


def set_up(
    shape: tuple[int, ...], settings: DipSettings, seed: int, device: torch.device
) -> Model:
    torch.manual_seed(seed)  # the network's initial weights
    channels, height, width = shape
    network = settings.network
    net = build_skip(network, out_channels=channels).to(device)
    seed_noise = torch.Generator().manual_seed(seed)
    base_input = (
        torch.rand(1, network.input_depth, height, width, generator=seed_noise)
        * settings.input_scale
    ).to(device)
    perturb = torch.Generator(device=device).manual_seed(seed + 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)
    return Model(net, base_input, perturb, optimiser)


def learning_rate(settings: DipSettings, step: int) -> float:
    progress = step / max(1, settings.steps)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return settings.lr * (settings.lr_floor + (1 - settings.lr_floor) * cosine)


def _autocast_dtype(settings: DipSettings) -> torch.dtype | None:
    """bf16 autocast only when asked: its effect on quality has not been measured on a GPU."""
    return torch.bfloat16 if settings.precision == "bf16" else None


class Stepped(Protocol):
    """What a step needs of a model: one fit's (Model) or a batch's (batch_fit.StackedModel)."""

    net: torch.nn.Module
    base_input: torch.Tensor
    optimiser: torch.optim.Optimizer

    def noisy_input(self, reg_noise: float, device: torch.device) -> torch.Tensor: ...


def step(
    model: Stepped, problem: Problem, settings: DipSettings, index: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimiser step `index`: each fit's loss (N,) and output (N, C, H, W) before the update."""
    for group in model.optimiser.param_groups:
        group["lr"] = learning_rate(settings, index)
    net_input = model.noisy_input(settings.reg_noise, device)
    dtype = _autocast_dtype(settings)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        output = model.net(net_input).float()
    losses = problem.losses(output, settings.prior_weight)
    model.optimiser.zero_grad(set_to_none=True)
    losses.sum().backward()
    model.optimiser.step()
    return losses, output


def every(step: int, period: int, last: int | None = None) -> bool:
    return bool(period) and step % period == 0 or step == last


@dataclass
class Member:
    """One fit of a run: its best output on its held-out pixels, when it stopped, its last
    reported loss. A run of one fit shares its FitState with the run's own."""

    score: FitState
    stopped_at: int | None = None
    loss: float = float("nan")

    def result(self, current: torch.Tensor, steps: int) -> FitResult:
        """`current`: this member's (1, C, H, W) output at the end of the run."""
        best = self.score.best
        return FitResult(
            output=to_numpy(best if best is not None else current),
            steps=self.stopped_at or steps,
            loss=self.loss,
            holdout_error=self.score.best_error if best is not None else None,
        )


def run(
    model: Stepped,
    problem: Problem,
    settings: DipSettings,
    device: torch.device,
    shared: FitState,
    members: list[Member],
    runtime: RunOptions = RunOptions(),
    hooks: FitHooks = FitHooks(),
) -> torch.Tensor:
    """The loop, for one fit (a Model) or a stack of them (batch_fit.StackedModel): step, track
    the average, score on the held-out pixels, report, snapshot, checkpoint, stop each member
    after `patience` checks without gain. Returns the (N, C, H, W) outputs that count now."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one fixed input shape for the whole fit
    current = None
    model.net.train()
    while shared.step < settings.steps and any(m.stopped_at is None for m in members):
        losses, output = step(model, problem, settings, shared.step, device)
        shared.step += 1
        current = shared.track(output.detach(), settings.output_ema)
        if problem.holdout is not None and every(shared.step, settings.check_every,
                                                 settings.steps):
            errors = problem.holdout_errors(current).tolist()
            for index, member in enumerate(members):
                if member.stopped_at is None:
                    member.score.score(current[index : index + 1], errors[index])
        if hooks.on_step is not None and every(shared.step, REPORT_EVERY, settings.steps):
            for member, loss in zip(members, losses.tolist(), strict=True):  # a device sync
                if member.stopped_at is None:
                    member.loss = loss
            hooks.on_step(shared.step, float(losses.detach().mean()))
        if hooks.on_snapshot is not None and every(shared.step, runtime.snapshot_every):
            hooks.on_snapshot(shared.step, to_numpy(current))
        if hooks.checkpointer and every(shared.step, runtime.checkpoint_every):
            if shared.step < settings.steps and isinstance(model, Model):
                hooks.checkpointer.save(model.checkpoint(shared))
        for member in members:
            stale = settings.patience and member.score.stale >= settings.patience
            if member.stopped_at is None and stale and shared.step >= settings.min_steps:
                member.stopped_at = shared.step
    if current is None:  # zero steps asked for
        with torch.no_grad():
            current = model.net(model.base_input).float()
    return current


def fit(
    inputs: FitInputs,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    seed: int = 0,
    hooks: FitHooks = FitHooks(),
) -> FitResult:
    """Fit the generator to `inputs.target` where `inputs.weight` is positive.

    With `inputs.holdout`, every `check_every` steps the output is scored on the held-out
    pixels, the best output is kept, and the fit stops after `patience` checks without gain.
    """
    device = devices.pick(runtime.device)
    model = set_up(inputs.target.shape, settings, seed, device)
    problem = Problem.on(inputs, device)
    saved = hooks.checkpointer.load() if hooks.checkpointer else None
    state = model.resume(saved, device) if saved is not None else FitState()
    member = Member(state)
    current = run(model, problem, settings, device, state, [member], runtime, hooks)
    return member.result(current, state.step)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].float().cpu().numpy()
