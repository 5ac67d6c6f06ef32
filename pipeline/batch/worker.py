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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import cv2
import torch

from pipeline.batch.facts import JobFacts
from pipeline.batch.look import look_at
from pipeline.batch.manifest import AUTO_TEMPLATE
from pipeline.batch.progress import Reporter
from pipeline.core.fill.restore import Observers
from pipeline.errors import InputError
from pipeline.io.checkpoints import CheckpointFolder
from pipeline.io.imaging import UnmarkWarning
from pipeline.io.paths import is_video
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
    facts: JobFacts | None = None  # what the job did; None when it failed
    seconds: float = 0.0
    resumed_from: int = 0  # optimiser steps restored from checkpoints (0: started fresh)
    first_step: int | None = None  # the first step this attempt reported
    device: str = ""
    worker: int = 0  # pid
    trace: str | None = None  # the traceback of an unexpected error (a bug, a device fault)


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
    threads, crop_threads = torch.get_num_threads(), cv2.getNumThreads()
    if task.threads is not None:  # the classic fill runs as many crops side by side
        torch.set_num_threads(task.threads)
        cv2.setNumThreads(task.threads)
    try:
        return _run(task)
    finally:  # a one-worker run happens in the caller's process
        torch.set_num_threads(threads)
        cv2.setNumThreads(crop_threads)


def _run(task: Task) -> Outcome:
    started = time.monotonic()
    device = claim_device(task.devices, task.claims)
    if device.startswith("cuda:"):
        torch.cuda.set_device(device)  # nothing else lands on cuda:0 by default
    runtime = replace(task.runtime, device=device)
    checkpoints = CheckpointFolder(task.checkpoints)
    reporter = Reporter(task.key, task.progress_port, device)
    error, trace, result = None, None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnmarkWarning)
        try:
            observers = Observers(progress=reporter.progress, checkpoints=checkpoints.region)
            result = _run_video(task.job) if is_video(task.job.image) else _run_job(
                task, runtime, observers, checkpoints)
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
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, UnmarkWarning))
    seconds = time.monotonic() - started
    resumed = checkpoints.resumed_steps(task.settings.steps)
    facts = None
    if result is not None:
        facts = facts_of(task, result, notes, seconds, device, resumed)
    return Outcome(
        key=task.key,
        error=error,
        warnings=notes,
        facts=facts,
        seconds=seconds,
        resumed_from=resumed,
        first_step=reporter.first_step,
        device=device,
        worker=os.getpid(),
        trace=trace,
    )


def _run_video(job: Job) -> JobResult:
    """A video of a manifest: its own mark (`template: auto` estimates it from its frames)."""
    from pipeline.video_job import VideoJob, run_video

    template = None if job.template == AUTO_TEMPLATE else job.template
    result = run_video(VideoJob(job.image, job.output, job.mask,
                                template, job.invert_mask))
    return JobResult(result.output, job.route, result.placement)


def _run_job(task: Task, runtime: RunOptions, observers: Observers,
             checkpoints: CheckpointFolder) -> JobResult:
    """run_job; once more from scratch when what it resumed from checkpoints does not fit the
    job (an edited or foreign file, a network of another shape): such a checkpoint would fail
    the job on every run, --retry-failed included."""
    try:
        return run_job(task.job, task.settings, runtime, observers)
    except (InputError, MemoryError):
        raise
    except Exception as problem:
        if not checkpoints.resumed_any():
            raise
        warnings.warn(f"{task.checkpoints}: the job's checkpoints do not fit it "
                      f"({type(problem).__name__}: {problem}); discarded, the job started over",
                      UnmarkWarning, stacklevel=2)
        checkpoints.discard()
        return run_job(task.job, task.settings, runtime, observers)


def facts_of(task: Task, result: JobResult, notes: tuple[str, ...], seconds: float,
             device: str, resumed: int) -> JobFacts:
    """The job's record, with its look: a look that cannot be taken is noted, and never fails
    the job."""
    route = f"{result.route} ({result.separation})" if result.separation else str(result.route)
    finished = time.time()
    facts = JobFacts(route, result.steps, seconds, device, result.placement, result.fitted,
                     result.opacity, resumed, round(finished - seconds, 3), round(finished, 3),
                     notes)
    if task.thumbs is None:
        return facts
    try:
        return facts.with_look(look_at(task.job, result.placement, task.thumbs))
    except Exception as problem:  # noqa: BLE001 - the output is written; only the look failed
        return replace(facts, look_error=f"{type(problem).__name__}: {problem}")
