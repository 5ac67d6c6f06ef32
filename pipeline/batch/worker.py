"""What runs inside a worker: one job on this worker's device, its warnings, its progress.

Workers never touch the ledger. They return an Outcome to the coordinator, and send progress as
small UDP datagrams to the coordinator's port: fire and forget, so a slow or vanished coordinator
never blocks a fit.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import torch

from pipeline.batch.look import look_at
from pipeline.batch.manifest import AUTO_TEMPLATE
from pipeline.batch.progress import Reporter
from pipeline.core.restore import Observers
from pipeline.errors import InputError
from pipeline.io.checkpoints import CheckpointFolder
from pipeline.io.imaging import UnmarkWarning
from pipeline.io.video import is_video
from pipeline.job import Job, JobResult, run_job
from pipeline.settings import DipSettings, RunOptions

ORPHAN_CHECK_SECONDS = 0.5
EXIT_ORPHANED = 3


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one job; pickled to the worker."""

    key: str
    job: Job
    settings: DipSettings
    runtime: RunOptions  # its device is set by the worker
    checkpoints: Path
    devices: tuple[str, ...]  # a worker process takes one of these and keeps it
    claims: Path  # lock files that share `devices` out among worker processes
    threads: int | None = None  # torch CPU threads; None leaves the worker's own setting
    progress_port: int | None = None  # 127.0.0.1 UDP port of the coordinator
    thumbs: Path | None = None  # where the job's look (check, thumbnails) goes; None: no look


@dataclass(frozen=True)
class Outcome:
    key: str
    error: str | None  # None: the output is written
    warnings: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)  # JobResult.facts(): what the job found
    seconds: float = 0.0
    resumed_from: int = 0  # optimiser steps restored from checkpoints (0: started fresh)
    first_step: int | None = None  # the first step this attempt reported
    device: str = ""
    worker: int = 0  # pid
    trace: str | None = None  # the traceback of an unexpected error (a bug, a device fault)
    review: dict = field(default_factory=dict)  # facts for the report (see `review_of`)


def watch_coordinator(coordinator: int) -> None:
    """Loky worker initializer. A worker whose coordinator was killed (kill -9) has nobody to
    return results to, and loky would keep it waiting for work forever: leave at once, busy or
    idle. Its job's checkpoints stay for the next run."""

    def watch() -> None:
        while os.getppid() == coordinator:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="watch-coordinator", daemon=True).start()


# A worker process takes one device for its life (one CUDA context, its memory stays put). The
# lock file proves it to sibling processes, so the lock must live as long as the process.
_claimed: dict[tuple[Path, tuple[str, ...]], tuple[str, IO]] = {}


def claim_device(devices: tuple[str, ...], claims: Path) -> str:
    if len(set(devices)) == 1:
        return devices[0]
    mine = _claimed.get((claims, devices))
    if mine is not None:
        return mine[0]
    claims.mkdir(parents=True, exist_ok=True)
    for index, device in enumerate(devices):
        handle = open(claims / f"slot{index}", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed[(claims, devices)] = (device, handle)
        return device
    return devices[os.getpid() % len(devices)]  # more processes than slots: share


def run_task(task: Task) -> Outcome:
    """Run one job; any failure of the job becomes the Outcome's error, never an exception."""
    threads = torch.get_num_threads()
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    try:
        return _run(task)
    finally:
        torch.set_num_threads(threads)  # a one-worker run happens in the caller's process


def _run(task: Task) -> Outcome:
    started = time.monotonic()
    device = claim_device(task.devices, task.claims)
    if device.startswith("cuda:"):
        torch.cuda.set_device(device)  # nothing else lands on cuda:0 by default
    runtime = replace(task.runtime, device=device)
    checkpoints = CheckpointFolder(task.checkpoints)
    reporter = Reporter(task.key, task.progress_port, device)
    error, trace, info, review = None, None, {}, {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnmarkWarning)
        try:
            observers = Observers(progress=reporter.progress, checkpoints=checkpoints.region)
            result = _run_video(task.job) if is_video(task.job.image) else run_job(
                task.job, task.settings, runtime, observers)
            info = result.facts()
            review = review_of(task, result)
        except InputError as problem:
            error = str(problem)
        except MemoryError:
            error = (f"{task.job.image}: out of memory (the photo and its fit do not fit in "
                     "this worker's memory; try fewer --workers)")
        except Exception as problem:  # a bug or a device fault fails this job, not the batch
            error = f"{type(problem).__name__}: {problem}".strip()
            trace = traceback.format_exc()
        finally:
            reporter.close()
    return Outcome(
        key=task.key,
        error=error,
        warnings=tuple(str(w.message) for w in caught if issubclass(w.category, UnmarkWarning)),
        info=info,
        seconds=time.monotonic() - started,
        resumed_from=checkpoints.resumed_steps(task.settings.steps),
        first_step=reporter.first_step,
        device=device,
        worker=os.getpid(),
        trace=trace,
        review=review,
    )


def _run_video(job: Job) -> object:
    """A video of a manifest: its own mark (`template: auto` estimates it from its frames)."""
    from pipeline.video_job import VideoJob, run_video

    template = None if job.template == AUTO_TEMPLATE else job.template
    result = run_video(VideoJob(job.image, job.output, job.mask,
                                template, job.invert_mask))
    return JobResult(result.output, job.route, result.placement)


def review_of(task: Task, result: object) -> dict:
    """What the report shows of a finished job: how it went (read by name, as JobResult grows)
    and its look. A look that cannot be taken is noted, and never fails the job."""
    placement = getattr(result, "placement", None)
    route = str(getattr(result, "route", "") or "")
    separation = getattr(result, "separation", None)  # mask jobs: inpainted or separated
    review: dict = {
        "route": f"{route} ({separation})" if separation else route,
        "steps": getattr(result, "steps", None) or task.settings.steps,
        "fitted": getattr(result, "fitted", None),
        "opacity": getattr(result, "opacity", None),
    }
    if task.thumbs is None:
        return review
    try:
        look = look_at(task.job, placement.as_dict() if placement else None, task.thumbs)
        review["look"] = look.as_dict()
    except Exception as problem:  # noqa: BLE001 - the output is written; only the look failed
        review["look_error"] = f"{type(problem).__name__}: {problem}"
    return review
