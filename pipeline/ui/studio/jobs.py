"""The studio's background work: previews and suggestions (one at a time, in a thread) and the
batch (the same coordinator and ledger as `unmark run`, in a thread; its progress is read back
from the ledger, so a run started by the CLI shows too). The pipeline (and torch with it) is
imported only when a preview, a suggestion or a run starts: the studio itself starts at once."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InputError
from pipeline.ui.studio.files import StudioImage, Workspace
from pipeline.ui.studio.masks import BatchSettings

if TYPE_CHECKING:
    from pipeline.batch.report import JobStatus

RUNNING, DONE, FAILED, IDLE = "running", "done", "failed", "idle"


class Busy(Exception):
    """A batch is already running from this page."""


@dataclass(frozen=True)
class TaskState:
    state: str  # running | done | failed
    error: str | None = None
    seconds: float | None = None


def _first_line(problem: BaseException) -> str:
    return (str(problem).splitlines() or [type(problem).__name__])[0]


class Tasks:
    """Short jobs (previews, suggestions) one at a time in a thread, each known by a random
    name; the server goes on answering while they run."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-task")
        self.started: dict[str, tuple[Future, float]] = {}

    def submit(self, work: Callable[[str], object]) -> str:
        """Run `work(name)` in the background; returns the name."""
        name = secrets.token_hex(8)
        self.started[name] = (self.pool.submit(self._timed, work, name), time.monotonic())
        return name

    @staticmethod
    def _timed(work: Callable[[str], object], name: str) -> tuple[object, float]:
        return work(name), time.monotonic()

    def state(self, name: str) -> TaskState | None:
        if name not in self.started:
            return None
        future, began = self.started[name]
        if not future.done():
            return TaskState(RUNNING)
        problem = future.exception()
        if problem is not None:
            return TaskState(FAILED, _first_line(problem))
        return TaskState(DONE, None, round(future.result()[1] - began, 2))

    def result(self, name: str) -> object:
        """What a finished task returned (None while it runs, failed, or is unknown)."""
        state = self.state(name)
        return self.started[name][0].result()[0] if state and state.state == DONE else None

    def wait(self, name: str, seconds: float) -> None:
        self.started[name][0].exception(timeout=seconds)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def fill_preview(image: StudioImage, mask: Path, output: Path, settings: BatchSettings,
                 device: str) -> Path:
    """The fast route: the job `unmark remove` runs, with no network fitting (steps=0)."""
    from pipeline.job import Job, run_job
    from pipeline.settings import RunOptions, preset

    fast = preset(settings.preset).with_overrides(steps=0)
    return run_job(Job(image=image.path, output=output, mask=mask), fast,
                   RunOptions(device=device)).output


@dataclass(frozen=True)
class Progress:
    state: str  # idle (never run here) | running | done | failed (the run stopped)
    total: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    message: str = ""
    run: int = 0  # how many runs this page has started: the page waits for its own


@dataclass(frozen=True)
class ReviewRow:
    """One job of the batch as the review lists it."""

    name: str  # the photo's file name
    image: Path
    output: Path | None  # written (done jobs only)
    state: str
    reason: str | None
    doubts: tuple[str, ...]


def _statuses(manifest: Path) -> list[JobStatus]:
    from pipeline.batch.manifest import load_manifest
    from pipeline.batch.status import batch_status

    return batch_status(load_manifest(manifest))


class BatchRunner:
    """Runs the studio's manifest with the CLI's coordinator in a background thread."""

    def __init__(self, workspace: Workspace, devices: str) -> None:
        self.workspace = workspace
        self.devices = devices
        self.thread: threading.Thread | None = None
        self.problem: str | None = None
        self.runs = 0

    def start(self) -> int:
        """Start a run; returns its number."""
        if self.thread is not None and self.thread.is_alive():
            raise Busy("a batch is already running")
        if not self.workspace.manifest.is_file():
            raise InputError("paint and save a mask first: there is no job to run")
        self.problem = None
        self.thread = threading.Thread(target=self._run, name="batch", daemon=True)
        self.runs += 1
        self.thread.start()
        return self.runs

    def _run(self) -> None:
        from pipeline.batch.coordinator import BatchOptions, run_batch
        from pipeline.batch.manifest import load_manifest

        try:
            run_batch(load_manifest(self.workspace.manifest), BatchOptions(devices=self.devices))
        except Exception as problem:  # noqa: BLE001 - the page shows why the run stopped
            self.problem = _first_line(problem)

    def progress(self) -> Progress:
        # One look at the run (the ledger read below can take seconds): an answer about an
        # earlier run must say so, or the page would take it for the run it just started.
        thread, runs, problem = self.thread, self.runs, self.problem
        alive = thread is not None and thread.is_alive()
        if not self.workspace.manifest.is_file():
            return Progress(IDLE, message="no jobs yet: paint and save a mask", run=runs)
        try:
            statuses = _statuses(self.workspace.manifest)
        except InputError:
            if not (alive or self.thread is not None and self.thread.is_alive()):
                raise
            # A run (started before or during the read) is still creating its ledger.
            return Progress(RUNNING, message="starting", run=runs)
        counts = {DONE: 0, FAILED: 0, RUNNING: 0}
        for status in statuses:
            counts[str(status.state)] = counts.get(str(status.state), 0) + 1
        if alive or counts[RUNNING]:  # here, or `unmark run` on the same folder
            state = RUNNING
        elif thread is None:
            state = IDLE
        else:
            state = FAILED if problem else DONE
        message = problem or (f"{counts[DONE]} of {len(statuses)} done"
                              + (f", {counts[FAILED]} failed" if counts[FAILED] else ""))
        return Progress(state, len(statuses), counts[DONE], counts[FAILED], counts[RUNNING],
                        message, runs)

    def review(self) -> list[ReviewRow]:
        """Every job, doubtful ones first, then failures, then the rest (manifest order)."""
        if not self.workspace.manifest.is_file():
            return []
        rows = []
        for status in _statuses(self.workspace.manifest):
            job, state = status.item.job, str(status.state)
            output = Path(job.output) if state == DONE and Path(job.output).is_file() else None
            rows.append(ReviewRow(Path(job.image).name, Path(job.image), output, state,
                                  status.reason, tuple(status.doubts)))
        return sorted(rows, key=_rank)


def _rank(row: ReviewRow) -> int:
    if row.doubts and row.state == DONE:
        return 0
    return {FAILED: 1, DONE: 2}.get(row.state, 3)
