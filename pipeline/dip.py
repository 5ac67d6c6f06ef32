"""The optimiser for one region: fit a fresh generator to the known pixels, return its output.

Mask mode fits out ~ target where weight > 0. Template mode adds a forward model: what the
camera saw is the mark blended over the photo, so it fits alpha*colour + (1-alpha)*out ~ target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from pipeline.errors import InputError
from pipeline.generator import build_skip
from pipeline.settings import DipSettings

StepCallback = Callable[[int, float], None]
SnapshotCallback = Callable[[int, np.ndarray], None]
REPORT_EVERY = 5


class Checkpointer(Protocol):
    """Where one region's optimiser state survives an interruption."""

    def load(self) -> dict | None: ...

    def save(self, state: dict) -> None: ...


@dataclass(frozen=True)
class Blend:
    """The watermark's forward model: observed = alpha * colour + (1 - alpha) * photo."""

    alpha: np.ndarray  # (1, H, W) in [0, 1]
    colour: np.ndarray  # (C, H, W) in [0, 1]


@dataclass(frozen=True)
class FitResult:
    output: np.ndarray  # (C, H, W) float32 in [0, 1]; the best on the held-out pixels, if any
    steps: int
    loss: float
    holdout_error: float | None = None  # mean squared error on the held-out pixels


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{name}' (auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}': CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise InputError(f"device '{name}': this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device '{name}': MPS is not available on this machine")
    return device


def _autocast_dtype(settings: DipSettings) -> torch.dtype | None:
    """bf16 autocast only when asked: its effect on quality has not been measured on a GPU."""
    return torch.bfloat16 if settings.precision == "bf16" else None


def _learning_rate(settings: DipSettings, step: int) -> float:
    progress = step / max(1, settings.steps)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return settings.lr * (settings.lr_floor + (1 - settings.lr_floor) * cosine)


def fit(
    target: np.ndarray,
    weight: np.ndarray,
    settings: DipSettings,
    blend: Blend | None = None,
    seed: int = 0,
    on_step: StepCallback | None = None,
    on_snapshot: SnapshotCallback | None = None,
    checkpointer: Checkpointer | None = None,
    prior: np.ndarray | None = None,
    holdout: np.ndarray | None = None,
) -> FitResult:
    """Fit the generator to `target` (C, H, W) where `weight` (1, H, W) is positive.

    `holdout` (1, H, W) marks known pixels left out of the loss: every `check_every` steps the
    output is scored on them, the best output is kept, and the fit stops after `patience`
    checks without improvement. H and W must be multiples of generator.size_multiple().
    """
    device = pick_device(settings.device)
    torch.manual_seed(seed)
    shape = settings.network
    channels, height, width = target.shape
    net = build_skip(shape, out_channels=channels).to(device)
    seed_noise = torch.Generator().manual_seed(seed)
    base_input = (
        torch.rand(1, shape.input_depth, height, width, generator=seed_noise) * settings.input_scale
    ).to(device)
    perturb = torch.Generator(device=device).manual_seed(seed + 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)

    target_t = torch.from_numpy(target)[None].to(device)
    weight_t = torch.from_numpy(weight)[None].to(device)
    weight_sum = weight_t.sum().clamp_min(1.0) * channels
    if blend is not None:
        alpha_t = torch.from_numpy(blend.alpha)[None].to(device)
        mark_t = (alpha_t * torch.from_numpy(blend.colour)[None].to(device))
    autocast_dtype = _autocast_dtype(settings)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one fixed input shape for the whole fit
    holdout_t = None
    if holdout is not None:
        holdout_t = torch.from_numpy(holdout.astype(np.float32))[None].to(device)
        holdout_sum = holdout_t.sum().clamp_min(1.0) * channels
    prior_t = torch.from_numpy(prior)[None].to(device) if prior is not None else None
    if prior_t is not None:
        unknown_t = (weight_t <= 0).float()
        if holdout_t is not None:  # held-out pixels are scored, never pulled towards anything
            unknown_t = unknown_t * (1 - holdout_t)
        unknown_sum = unknown_t.sum().clamp_min(1.0) * channels

    average: torch.Tensor | None = None
    best: torch.Tensor | None = None
    best_error, stale = float("inf"), 0
    step, loss_value = 0, float("nan")
    saved = checkpointer.load() if checkpointer else None
    if saved is not None:
        net.load_state_dict(saved["net"])
        optimiser.load_state_dict(saved["optimiser"])
        perturb.set_state(saved["perturb"])
        average = saved["average"].to(device) if saved["average"] is not None else None
        best = saved["best"].to(device) if saved["best"] is not None else None
        best_error, stale = saved["best_error"], saved["stale"]
        step = saved["step"]

    net.train()
    while step < settings.steps:
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(settings, step)
        net_input = base_input
        if settings.reg_noise > 0:
            noise = torch.randn(base_input.shape, generator=perturb, device=device)
            net_input = base_input + noise * settings.reg_noise
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            output = net(net_input).float()
        seen = output if blend is None else mark_t + (1 - alpha_t) * output
        loss = ((seen - target_t) ** 2 * weight_t).sum() / weight_sum
        if prior_t is not None and settings.prior_weight > 0:
            pull = ((output - prior_t) ** 2 * unknown_t).sum() / unknown_sum
            loss = loss + settings.prior_weight * pull
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1

        detached = output.detach()
        if settings.output_ema > 0:
            if average is None:
                average = detached.clone()
            else:
                average.lerp_(detached, 1 - settings.output_ema)
        current = average if average is not None else detached
        if holdout_t is not None and (step % settings.check_every == 0 or step == settings.steps):
            error = float((((current - target_t) ** 2) * holdout_t).sum() / holdout_sum)
            if error < best_error:
                best_error, best, stale = error, current.clone(), 0
            else:
                stale += 1
        if on_step is not None and (step % REPORT_EVERY == 0 or step == settings.steps):
            loss_value = loss.item()  # a device sync: not every step
            on_step(step, loss_value)
        snapshot_due = settings.snapshot_every and step % settings.snapshot_every == 0
        if on_snapshot is not None and snapshot_due:
            on_snapshot(step, _to_numpy(current))
        if checkpointer and settings.checkpoint_every and step % settings.checkpoint_every == 0:
            if step < settings.steps:
                checkpointer.save(
                    {
                        "step": step,
                        "net": net.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "perturb": perturb.get_state(),
                        "average": average.cpu() if average is not None else None,
                        "best": best.cpu() if best is not None else None,
                        "best_error": best_error,
                        "stale": stale,
                    }
                )
        if settings.patience and stale >= settings.patience and step >= settings.min_steps:
            break

    if step == 0:  # resumed at the end, or zero steps asked for
        with torch.no_grad():
            detached = net(base_input).float()
    final = best if best is not None else (average if average is not None else detached)
    return FitResult(
        output=_to_numpy(final),
        steps=step,
        loss=float(loss_value),
        holdout_error=best_error if best is not None else None,
    )


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].float().cpu().numpy()
