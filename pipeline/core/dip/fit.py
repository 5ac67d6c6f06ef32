"""The optimiser for one region: fit a fresh generator to the known pixels, return its output.

Mask mode fits out ~ target where weight > 0. Template mode adds a forward model: what the
camera saw is the mark blended over the photo, so it fits alpha*colour + (1-alpha)*out ~ target.
The loop reads top to bottom: set up, step, score, report, checkpoint, stop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

import numpy as np
import torch

from pipeline import devices
from pipeline.core.dip.generator import build_skip
from pipeline.settings import DipSettings, RunOptions

StepCallback = Callable[[int, float], None]
SnapshotCallback = Callable[[int, np.ndarray], None]
REPORT_EVERY = 5


@dataclass(frozen=True)
class Blend:
    """The watermark's forward model: observed = alpha * colour + (1 - alpha) * photo."""

    alpha: np.ndarray  # (1, H, W) in [0, 1]
    colour: np.ndarray  # (C, H, W) in [0, 1]


@dataclass(frozen=True)
class FitInputs:
    """What one fit is asked: match `target` where `weight` > 0, all (., H, W) float32 arrays.
    H and W must be multiples of generator.size_multiple()."""

    target: np.ndarray  # (C, H, W)
    weight: np.ndarray  # (1, H, W)
    blend: Blend | None = None  # template mode: fit the blend of the mark over the output
    prior: np.ndarray | None = None  # (C, H, W): pull the hole towards it (settings.prior_weight)
    holdout: np.ndarray | None = None  # (1, H, W) bool: scored, never fitted


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


class Checkpointer(Protocol):
    """Where one region's optimiser state survives an interruption."""

    def load(self) -> FitCheckpoint | None: ...

    def save(self, checkpoint: FitCheckpoint) -> None: ...


class FitHooks(NamedTuple):
    """Optional watchers of one fit; it computes the same without them. Each is called at the
    period RunOptions gives (progress every REPORT_EVERY steps)."""

    on_step: StepCallback | None = None  # (step, loss)
    on_snapshot: SnapshotCallback | None = None  # (step, current output)
    checkpointer: Checkpointer | None = None


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
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one fixed input shape for the whole fit
    saved = hooks.checkpointer.load() if hooks.checkpointer else None
    state = model.resume(saved, device) if saved is not None else FitState()
    latest, loss_value = None, float("nan")

    model.net.train()
    while state.step < settings.steps:
        loss, output = step(model, problem, settings, state.step, device)
        state.step += 1
        latest = output.detach()
        current = state.track(latest, settings.output_ema)
        if problem.holdout is not None and every(state.step, settings.check_every, settings.steps):
            state.score(current, float(problem.holdout_errors(current)))
        if hooks.on_step is not None and every(state.step, REPORT_EVERY, settings.steps):
            loss_value = loss.item()  # a device sync: not every step
            hooks.on_step(state.step, loss_value)
        if hooks.on_snapshot is not None and every(state.step, runtime.snapshot_every):
            hooks.on_snapshot(state.step, to_numpy(current))
        if hooks.checkpointer and every(state.step, runtime.checkpoint_every):
            if state.step < settings.steps:
                hooks.checkpointer.save(model.checkpoint(state))
        if settings.patience and state.stale >= settings.patience:
            if state.step >= settings.min_steps:
                break

    if latest is None:  # zero steps asked for
        with torch.no_grad():
            latest = model.net(model.base_input).float()
    final = state.best if state.best is not None else state.track(latest, 0.0)
    return FitResult(
        output=to_numpy(final),
        steps=state.step,
        loss=float(loss_value),
        holdout_error=state.best_error if state.best is not None else None,
    )


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].float().cpu().numpy()
