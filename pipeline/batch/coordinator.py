"""Jobs -> workers -> ledger: the coordinator of a batch.

The coordinator reads the manifest's jobs, asks the ledger which are done (plan.py), hands the
rest to joblib (loky processes on this machine, or a Dask cluster), and records each result as it
arrives. It is the only writer of the ledger, and it writes `done` only after the worker has
renamed the output into place, so a kill -9 at any moment leaves nothing half-written and
nothing recorded that did not happen.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from joblib import Parallel, delayed, parallel_config

from pipeline import devices
from pipeline.batch import auto_template, ledger
from pipeline.batch.cores import default_threads
from pipeline.batch.locks import check_state_dir, hold_lock
from pipeline.batch.manifest import BatchJob, Manifest
from pipeline.batch.plan import Planned, Shard, triage
from pipeline.batch.progress import ProgressInbox
from pipeline.batch.report import (
    Display,
    JobReport,
    Quiet,
    Summary,
    doubts_of,
    report,
)
from pipeline.batch.states import JobState
from pipeline.batch.worker import Outcome, Task, run_task, watch_coordinator
from pipeline.errors import InputError
from pipeline.io.checkpoints import CheckpointFolder, prune
from pipeline.io.paths import check_folder_writable, remove_partial_outputs

DEFAULT_CHECKPOINT_EVERY = 50
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM): the run stopped cleanly; what was running resumes next time."""

    def __init__(self, summary: Summary, terminated: bool = False) -> None:
        super().__init__("interrupted")
        self.summary = summary
        self.terminated = terminated  # by SIGTERM (a scheduler's, `kill`), not Ctrl-C


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, so that it stops as Ctrl-C stops it."""


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Aborted(Exception):
    """The workers stopped under us (a worker process died, the cluster went away)."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs: its workers, devices, backend and share of the jobs."""

    workers: int = 1  # CPU processes; with GPUs, workers per GPU
    devices: str = "auto"  # auto | cpu | cuda:0,cuda:1 | mps
    backend: str = "loky"  # loky | dask
    scheduler: str | None = None  # tcp://host:port of a Dask scheduler
    shard: Shard | None = None
    retry_failed: bool = False
    checkpoint_every: int | None = None  # None: the manifest's, else DEFAULT_CHECKPOINT_EVERY
    threads: int | None = None  # torch threads per worker; None: cores // workers


def worker_devices(options: BatchOptions) -> tuple[str, ...]:
    """One entry per local worker process: the device it runs its jobs on."""
    if options.workers < 1:
        raise InputError("--workers must be at least 1")
    if options.devices == "auto":
        return (devices.local_gpus() or ("cpu",)) * options.workers
    try:
        names = [devices.parse(name) for name in options.devices.split(",") if name.strip()]
    except InputError as problem:
        raise InputError(f"--devices: {problem}") from None
    if len({name.split(":")[0] for name in names}) > 1:
        raise InputError("--devices: use GPUs or the CPU, not both in one run")
    try:
        for name in names:
            devices.check_available(name)
    except InputError as problem:
        raise InputError(f"--devices: {problem}") from None
    return tuple(names) * options.workers


def _outcomes(
    tasks: Iterator[Task], options: BatchOptions, workers: int, temp: Path
) -> Iterator[Outcome]:
    calls = (delayed(run_task)(task) for task in tasks)
    # One task per dispatch, and no more dispatched than there are workers: a job marked running
    # in the ledger is one a worker is really running.
    run = dict(return_as="generator_unordered", batch_size=1, pre_dispatch="n_jobs")
    if options.backend == "loky":
        watch = dict(initializer=watch_coordinator, initargs=(os.getpid(),))
        with parallel_config(backend="loky", temp_folder=str(temp), **watch):
            yield from Parallel(n_jobs=workers, **run)(calls)
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--backend dask needs dask.distributed: pip install 'unmark[dask]'"
        ) from None
    try:
        client = Client(options.scheduler, timeout=30)
    except (OSError, TimeoutError) as problem:
        raise InputError(
            f"cannot reach the Dask scheduler at {options.scheduler} ({problem})"
        ) from None
    with client, parallel_config(backend="dask"):
        yield from Parallel(n_jobs=-1, **run)(calls)


def _fresh_temp(state: Path) -> Path:
    """joblib's scratch folder, inside the state folder rather than /dev/shm, so a kill -9 leaves
    nothing outside it; this run holds the lock, so whatever is there is stale."""
    temp = state / "tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True, exist_ok=True)
    return temp


def _check(options: BatchOptions) -> None:
    if options.backend not in ("loky", "dask"):
        raise InputError(f"--backend {options.backend}: choose loky or dask")
    if options.backend == "dask" and not options.scheduler:
        raise InputError("--backend dask needs --scheduler tcp://HOST:PORT")
    if options.checkpoint_every is not None and options.checkpoint_every < 0:
        raise InputError("--checkpoint-every cannot be negative")


def run_batch(manifest: Manifest, options: BatchOptions, display: Display = Quiet()) -> Summary:
    """Run every job of the manifest (or of its shard) that is not done yet.

    Raises Interrupted on Ctrl-C and Aborted when the workers die under it; both carry the
    summary so far, and leave the ledger ready for the next run to resume.
    """
    _check(options)
    started = time.monotonic()
    jobs = options.shard.pick(manifest.jobs) if options.shard else manifest.jobs
    shard = options.shard.name if options.shard else None
    local = options.backend == "loky"
    slots = worker_devices(options) if local else ("auto",)
    threads = options.threads or (default_threads(len(slots)) if local else None)
    summary = Summary(str(manifest.path), str(manifest.output), workers=len(slots))
    check_folder_writable(manifest.output)  # before any fit: outputs, ledger and lock go here
    state = check_state_dir(manifest.output)

    with _sigterm_as_ctrl_c(), hold_lock(manifest.output, shard), \
            ledger.Ledger(state / ledger.ledger_name(shard)) as book:
        try:
            jobs, todo = _plan(manifest, jobs, book, options, slots[0], summary)
            display.begin(len(todo), summary.count(JobState.SKIPPED),
                          summary.count(JobState.FAILED), len(slots))
            planned = {plan.item.key: plan for plan in todo}

            def tasks(port: int | None) -> Iterator[Task]:
                for plan in todo:  # consumed lazily, as workers free up
                    book.start(plan.item, plan.verdict.input_hash, plan.verdict.settings_hash)
                    yield _task(plan, options, slots, threads, port, state)

            with ProgressInbox(display) as inbox:
                port = inbox.port if local or _is_loopback(options.scheduler) else None
                temp = _fresh_temp(state)
                for outcome in _outcomes(tasks(port), options, len(slots), temp):
                    finished = _record(book, planned[outcome.key], outcome)
                    summary.jobs.append(finished)
                    display.finished(finished)
        except KeyboardInterrupt as stop:
            terminated = isinstance(stop, Terminated)
            _stop(book, summary, jobs, f"interrupted ({'SIGTERM' if terminated else 'Ctrl-C'})")
            raise Interrupted(summary, terminated) from None
        except InputError:
            _stop(book, summary, jobs, "interrupted")
            raise
        except Exception as problem:
            _stop(book, summary, jobs, f"interrupted ({type(problem).__name__})")
            raise Aborted(f"the workers stopped ({_why_stopped(problem)}); run again to resume",
                          summary) from problem
        finally:
            summary.seconds = time.monotonic() - started
    return summary


def _why_stopped(problem: Exception) -> str:
    """The workers' fault in a few words (loky's own message runs to five lines)."""
    if type(problem).__name__ == "TerminatedWorkerError":
        return ("a worker process was killed: by a signal, or by the system for want of "
                "memory; try fewer --workers if it happens again")
    first = (str(problem).strip().splitlines() or [""])[0]
    return f"{type(problem).__name__}: {first}"


def _plan(
    manifest: Manifest, jobs: tuple[BatchJob, ...], book: ledger.Ledger, options: BatchOptions,
    device: str, summary: Summary,
) -> tuple[tuple[BatchJob, ...], list[Planned]]:
    """The jobs (auto templates resolved) and those to run; tidy what earlier runs left."""
    jobs, no_template = auto_template.resolve(manifest, jobs, estimate=True)
    todo = triage(jobs, book, manifest, options.retry_failed, device, summary, no_template)
    # Failed jobs keep their checkpoints, for --retry-failed.
    prunable = [r.key for r in summary.jobs if r.state == JobState.SKIPPED]
    prunable += [plan.item.key for plan in todo]
    state = ledger.state_dir(manifest.output)
    prune(state / "checkpoints", prunable, [plan.checkpoints for plan in todo])
    remove_partial_outputs(item.job.output for item in jobs)
    return jobs, todo


def _is_loopback(scheduler: str | None) -> bool:
    host = re.sub(r"^\w+://", "", scheduler or "").rsplit(":", 1)[0].strip("[]")
    return host in LOOPBACK


def _task(
    plan: Planned, options: BatchOptions, devices: tuple[str, ...], threads: int | None,
    port: int | None, state: Path,
) -> Task:
    every = options.checkpoint_every
    if every is None:
        every = plan.item.runtime.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    return Task(
        key=plan.item.key,
        job=plan.item.job,
        settings=plan.item.settings,
        runtime=replace(plan.item.runtime, checkpoint_every=every),
        checkpoints=plan.checkpoints,
        devices=devices,
        claims=state / "devices",
        threads=threads,
        progress_port=port,
        thumbs=state / "thumbs",
    )


def _record(book: ledger.Ledger, plan: Planned, outcome: Outcome) -> JobReport:
    """The worker has renamed the output into place (or failed): write it down."""
    detail = {
        "seconds": round(outcome.seconds, 3),
        "device": outcome.device,
        "worker": outcome.worker,
        "resumed_from": outcome.resumed_from,
        "first_step": outcome.first_step,
    }
    state = JobState.DONE if outcome.error is None else JobState.FAILED
    if outcome.trace:
        detail["trace"] = outcome.trace
    book.finish(plan.item.key, state, outcome.error, outcome.facts, detail, outcome.warnings,
                outcome.seconds)
    if state == JobState.DONE:
        CheckpointFolder(plan.checkpoints).clear()
    return report(
        plan.item, state, outcome.error,
        warnings=outcome.warnings, seconds=outcome.seconds, resumed_from=outcome.resumed_from,
        device=outcome.device, doubts=doubts_of(outcome.error, outcome.facts),
    )


def _stop(book: ledger.Ledger, summary: Summary, jobs: tuple[BatchJob, ...], why: str) -> None:
    """Whatever was running goes back to pending; the summary lists every job still to do."""
    book.interrupt(why)
    reported = {report.key for report in summary.jobs}
    for item in jobs:
        if item.key not in reported:
            summary.jobs.append(report(item, JobState.PENDING, why))
