"""Checkpoints for one job: each region's optimiser state in its own file, so a job interrupted at
any moment (kill -9 included) resumes from its last checkpoint instead of step 0.

A file is written whole or not at all (temp file, fsync, rename). The folder's name carries a
hash of the job's inputs, settings and device kind, so a checkpoint is never resumed into a job it
does not belong to; the coordinator deletes the folder once the job is done.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from pipeline.core.dip.fit import FitCheckpoint, FitState
from pipeline.errors import StorageError
from pipeline.io.checkpoint_folders import folder_for, prune
from pipeline.io.imaging import UnmarkWarning
from pipeline.io.paths import storage_error

__all__ = ["CheckpointFolder", "RegionCheckpoint", "folder_for", "prune"]

LOW_SPACE = 1 << 20  # bytes free below which a failed write is put down to a full disk

NUMPY_KEYS = "numpy_keys"  # tensors that were handed over as numpy arrays
RESULT = "result"  # a finished region's output


class RegionCheckpoint:
    """restore.RegionStore for one region: a `region<i>.pt` file holding either the optimiser
    state of a fit under way or the region's finished output. Only this class knows the keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loaded: dict | None = None  # what the last read found, for reporting

    def _read(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as problem:  # unreadable: starting over is the only way on
            warnings.warn(f"{self.path}: cannot read the checkpoint ({problem}); the region "
                          "starts over", UnmarkWarning, stacklevel=3)
            return None
        problem = _misfit(state)
        if problem is not None:
            warnings.warn(f"{self.path}: not a checkpoint of this job ({problem}); discarded, "
                          "the region starts over", UnmarkWarning, stacklevel=3)
            self.path.unlink(missing_ok=True)
            return None
        for key in state.pop(NUMPY_KEYS, []):
            state[key] = state[key].numpy()
        self.loaded = state
        return state

    def result(self) -> np.ndarray | None:
        """The region's output, if it was finished before."""
        state = self._read()
        return state[RESULT] if state is not None and RESULT in state else None

    def load(self) -> FitCheckpoint | None:
        """The optimiser state of an unfinished fit, if one was saved."""
        state = self._read()
        if state is None or RESULT in state:
            return None
        fit_state = FitState(
            step=state["step"], average=state["average"], best=state["best"],
            best_error=state["best_error"], stale=state["stale"],
        )
        return FitCheckpoint(fit_state, state["net"], state["optimiser"], state["perturb"])

    def save(self, checkpoint: FitCheckpoint) -> None:
        state = checkpoint.state
        self._write({
            "step": state.step,
            "net": checkpoint.net,
            "optimiser": checkpoint.optimiser,
            "perturb": checkpoint.perturb,
            "average": state.average,
            "best": state.best,
            "best_error": state.best_error,
            "stale": state.stale,
        })

    def save_result(self, output: np.ndarray) -> None:
        self._write({RESULT: output})

    def steps_done(self, steps_per_region: int) -> int:
        """How many optimiser steps the last read found done."""
        state = self.loaded or {}
        return steps_per_region if RESULT in state else int(state.get("step", 0))

    def _write(self, state: dict) -> None:
        arrays = [key for key, value in state.items() if isinstance(value, np.ndarray)]
        payload = {
            k: torch.from_numpy(np.ascontiguousarray(v)) if k in arrays else v
            for k, v in state.items()
        }
        payload[NUMPY_KEYS] = arrays  # tensors and plain values only: weights_only can load it
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as stream:
                torch.save(payload, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, self.path)
        except OSError as problem:
            raise storage_error(self.path, problem, "writing the checkpoint") from None
        except RuntimeError as problem:  # torch's writer wraps the OSError in its own words
            if "writ" not in str(problem).lower():
                raise
            raise StorageError(f"{self.path}: {_why_unwritable(self.path.parent)} while "
                               "writing the checkpoint") from None
        finally:
            temp.unlink(missing_ok=True)


FIT_KEYS = ("step", "net", "optimiser", "perturb", "average", "best", "best_error", "stale")


def _misfit(state: object) -> str | None:
    """What makes a loaded file no checkpoint of ours; None when it looks like one."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}"
    arrays = state.get(NUMPY_KEYS, [])
    if not isinstance(arrays, list) or any(
            not isinstance(state.get(key), torch.Tensor) for key in arrays):
        return "its arrays are missing"
    if RESULT in state:
        result = state[RESULT]
        return None if isinstance(result, torch.Tensor) and result.ndim == 3 else "a bad result"
    missing = [key for key in FIT_KEYS if key not in state]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(state["step"], int) or state["step"] < 0:
        return "a bad step count"
    return None


def _why_unwritable(folder: Path) -> str:
    try:
        return "disk full" if shutil.disk_usage(folder).free < LOW_SPACE else "write failed"
    except OSError:
        return "write failed"


class CheckpointFolder:
    """All of one job's region checkpoints; `region` is restore.Observers' checkpoint factory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.regions: list[RegionCheckpoint] = []

    def region(self, index: int) -> RegionCheckpoint:
        checkpoint = RegionCheckpoint(self.folder / f"region{index}.pt")
        self.regions.append(checkpoint)
        return checkpoint

    def resumed_steps(self, steps_per_region: int) -> int:
        """How many optimiser steps this run did not have to redo."""
        return sum(checkpoint.steps_done(steps_per_region) for checkpoint in self.regions)

    def saved_step(self) -> int:
        """The furthest step any region has saved (0 if none); for tests and status."""
        steps = [0]
        for path in self.folder.glob("region*.pt"):
            checkpoint = RegionCheckpoint(path)
            checkpoint.result()
            steps.append(checkpoint.steps_done(0))
        return max(steps)

    def resumed_any(self) -> bool:
        """Did any region find something to resume from?"""
        return any(checkpoint.loaded is not None for checkpoint in self.regions)

    def discard(self) -> None:
        """Forget every region's checkpoint: the job starts over."""
        self.clear()
        self.regions = []

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
