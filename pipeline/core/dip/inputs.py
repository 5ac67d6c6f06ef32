"""What a fit is asked and who watches it: plain types, no torch, so that the rooms that only
describe a fit (the classic fill, template mode's inverse) load without the network's stack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from pipeline.settings import NetworkShape

if TYPE_CHECKING:
    from pipeline.core.dip.fit import FitCheckpoint

StepCallback = Callable[[int, float], None]
SnapshotCallback = Callable[[int, np.ndarray], None]


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


def size_multiple(shape: NetworkShape) -> int:
    """Input height and width must be multiples of this (one halving per level)."""
    return 2**shape.levels


def group(keys: list, members: list[int]) -> list[list[int]]:
    """Indices grouped by key, in order of first appearance; a group of fits that may run
    `members[i]` at a time is cut into batches of that many."""
    by_key: dict[object, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    groups = []
    for indices in by_key.values():
        size = members[indices[0]]
        groups += [indices[start : start + size] for start in range(0, len(indices), size)]
    return groups
