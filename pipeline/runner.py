"""Jobs -> workers -> ledger: the coordinator of a batch.

The coordinator reads the manifest's jobs, asks the ledger which are done, hands the rest to
joblib (loky processes on this machine, or a Dask cluster), and records each result as it
arrives. It is the only writer of the ledger, and it writes `done` only after the worker has
renamed the output into place, so a kill -9 at any moment leaves nothing half-written and
nothing recorded that did not happen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from joblib import Parallel, delayed, parallel_config

from pipeline import checkpoints, ledger
from pipeline.errors import InputError
from pipeline.estimate import estimate_mark, save_mark, stack_pictures
from pipeline.imaging import load_picture
from pipeline.manifest import AUTO_TEMPLATE, BatchJob, Manifest
from pipeline.workers import Outcome, Task, run_task, watch_coordinator

DEFAULT_CHECKPOINT_EVERY = 50
DEVICE_NAME = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class Interrupted(Exception):
    """Ctrl-C: the run stopped cleanly; what was running resumes next time."""

    def __init__(self, summary: Summary) -> None:
        super().__init__("interrupted")
        self.summary = summary


class Aborted(Exception):
    """The workers stopped under us (a worker process died, the cluster went away)."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class Shard:
    """`--shard I/N`: the I-th of N interleaved slices of the jobs, sorted by output path, so
    every array task of a cluster job agrees on who does what."""

    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not found:
            raise InputError(f"--shard {text}: expected I/N, e.g. 2/8")
        index, count = int(found[1]), int(found[2])
        if not 1 <= index <= count:
            raise InputError(f"--shard {text}: I runs from 1 to N")
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def pick(self, jobs: tuple[BatchJob, ...]) -> tuple[BatchJob, ...]:
        return tuple(sorted(jobs, key=lambda item: item.key)[self.index - 1 :: self.count])


@dataclass(frozen=True)
class RunOptions:
    workers: int = 1  # CPU processes; with GPUs, workers per GPU
    devices: str = "auto"  # auto | cpu | cuda:0,cuda:1 | mps
    backend: str = "loky"  # loky | dask
    scheduler: str | None = None  # tcp://host:port of a Dask scheduler
    shard: Shard | None = None
    retry_failed: bool = False
    checkpoint_every: int | None = None  # None: the manifest's, else DEFAULT_CHECKPOINT_EVERY
    threads: int | None = None  # torch threads per worker; None: cores // workers


@dataclass(frozen=True)
class JobReport:
    key: str
    image: str
    output: str
    state: str  # done | failed | skipped (done before) | pending (interrupted)
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    resumed_from: int = 0
    device: str = ""
    earlier: bool = False  # the state is from an earlier run (not retried or redone now)


@dataclass
class Summary:
    manifest: str
    output: str
    jobs: list[JobReport] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0

    def count(self, state: str) -> int:
        return sum(report.state == state for report in self.jobs)

    @property
    def ok(self) -> bool:
        return all(report.state in ("done", "skipped") for report in self.jobs)

    def as_dict(self) -> dict:
        states = ("done", "skipped", "failed", "pending")
        return {
            "manifest": self.manifest,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "counts": {state: self.count(state) for state in states},
            "jobs": [dataclasses.asdict(report) for report in self.jobs],
        }


class Display(Protocol):
    def begin(self, todo: int, skipped: int, failed_before: int, workers: int) -> None: ...
    def started(self, worker: int, key: str, device: str) -> None: ...
    def step(self, worker: int, key: str, step: int, total: int, loss: float) -> None: ...
    def finished(self, report: JobReport) -> None: ...


class Quiet:
    """A Display that shows nothing (library use, tests)."""

    def begin(self, todo: int, skipped: int, failed_before: int, workers: int) -> None: ...
    def started(self, worker: int, key: str, device: str) -> None: ...
    def step(self, worker: int, key: str, step: int, total: int, loss: float) -> None: ...
    def finished(self, report: JobReport) -> None: ...


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_devices(options: RunOptions) -> tuple[str, ...]:
    """One entry per local worker process: the device it runs its jobs on."""
    import torch

    if options.workers < 1:
        raise InputError("--workers must be at least 1")
    if options.devices == "auto":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        names = [f"cuda:{i}" for i in range(count)] or ["cpu"]
    else:
        names = [name.strip() for name in options.devices.split(",") if name.strip()]
    for name in names:
        if not DEVICE_NAME.match(name):
            raise InputError(f"--devices: '{name}' is not a device (cpu, cuda:N, mps or auto)")
    names = ["cuda:0" if name == "cuda" else name for name in names]
    if len({name.split(":")[0] for name in names}) > 1:
        raise InputError("--devices: use GPUs or the CPU, not both in one run")
    for name in names:
        if name.startswith("cuda:"):
            index = int(name.split(":")[1])
            if index >= torch.cuda.device_count():
                raise InputError(f"--devices: there is no {name} "
                                 f"(this machine has {torch.cuda.device_count()} GPU(s))")
    return tuple(names) * options.workers


class ProgressInbox:
    """Receives workers' progress datagrams on a local port and hands them to the display."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="progress", daemon=True)

    def __enter__(self) -> ProgressInbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.socket.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                message = json.loads(self.socket.recv(65536))
                kind, worker, key, *values = message
                if kind == "start":
                    self.display.started(int(worker), str(key), str(values[0]))
                elif kind == "step":
                    step, total, loss = values
                    self.display.step(int(worker), str(key), int(step), int(total), float(loss))
            except TimeoutError:
                continue
            except (ValueError, TypeError, IndexError):
                continue  # not one of ours


def auto_template_path(state: Path, entry: int, images: Sequence[Path]) -> Path:
    """Where the mark estimated for `template: auto` entry N lives. The name carries a hash of
    the entry's images (paths, sizes, mtimes): add, change or remove one and the mark is
    estimated again; leave them be and a rerun reuses it."""
    digest = hashlib.sha256()
    for image in sorted(map(str, images)):
        try:
            stat = os.stat(image)
            facts = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            facts = None  # its job fails on its own; the name still changes when it comes back
        digest.update(json.dumps([image, facts]).encode())
    return state / "templates" / f"entry{entry}-{digest.hexdigest()[:16]}.png"


def _estimate_template(images: Sequence[Path], target: Path, where: str) -> None:
    pictures = []
    for image in images:
        try:
            pictures.append(load_picture(image))
        except InputError:
            continue  # that job fails by itself, with its own reason; the others need not
    stack = stack_pictures(pictures, where)  # its errors name `where`
    try:
        mark = estimate_mark(stack)
    except InputError as problem:
        raise InputError(f"{where}: {problem}") from None
    save_mark(mark, target)


def _auto_templates(
    manifest: Manifest, jobs: tuple[BatchJob, ...], estimate: bool
) -> tuple[tuple[BatchJob, ...], dict[str, str]]:
    """Give the jobs of `template: auto` entries their entry's estimated mark, estimated here in
    the coordinator from all the entry's images, once, before any worker starts.

    Returns the jobs, and a reason for each job whose entry's mark cannot be estimated. Without
    `estimate` (status: read-only), only marks already on disk are used.
    """
    state = ledger.state_dir(manifest.output)
    marks: dict[int, Path] = {}
    failed: dict[str, str] = {}
    for entry in sorted({item.entry for item in jobs if item.job.template == AUTO_TEMPLATE}):
        members = [item for item in manifest.jobs if item.entry == entry]
        images = [item.job.image for item in members]
        target = auto_template_path(state, entry, images)
        if estimate and not target.is_file():
            where = f"template: auto (jobs[{entry}], line {members[0].line})"
            try:
                _estimate_template(images, target, where)
            except InputError as problem:
                failed.update((item.key, str(problem)) for item in jobs if item.entry == entry)
                continue
            for stale in target.parent.glob(f"entry{entry}-*.png"):  # from earlier images
                if stale != target:
                    stale.unlink(missing_ok=True)
        if target.is_file():
            marks[entry] = target
    resolved = tuple(
        dataclasses.replace(item, job=dataclasses.replace(item.job, template=marks[item.entry]))
        if item.job.template == AUTO_TEMPLATE and item.entry in marks else item
        for item in jobs
    )
    return resolved, failed


@dataclass(frozen=True)
class Planned:
    item: BatchJob
    verdict: ledger.Verdict
    checkpoints: Path


def _triage(
    jobs: tuple[BatchJob, ...], book: ledger.Ledger, manifest: Manifest, options: RunOptions,
    device: str, summary: Summary, no_template: dict[str, str],
) -> list[Planned]:
    """Which jobs to run; the others go straight into the summary. `no_template`: the jobs whose
    `template: auto` mark could not be estimated, and why."""
    others = ledger.read_all(manifest.output, skip=book.path.name)
    mine = book.records()
    hasher = ledger.Hasher([book])
    root = ledger.state_dir(manifest.output) / "checkpoints"
    todo = []
    for item in jobs:
        record = mine.get(item.key)
        other = others.get(item.key)
        if other is not None and (record is None or other[0].updated > record.updated):
            record = other[0]
        verdict = ledger.judge(item, record, hasher, running=False)
        if item.key in no_template:  # recorded under its images' hash, so status shows why
            reason = no_template[item.key]
            book.refuse(item, verdict.input_hash or "", verdict.settings_hash, reason)
            summary.jobs.append(_report(item, "failed", reason))
        elif verdict.input_hash is None:  # unreadable inputs fail without a worker
            book.refuse(item, "", verdict.settings_hash, verdict.reason)
            summary.jobs.append(_report(item, "failed", verdict.reason))
        elif verdict.state == ledger.DONE:
            summary.jobs.append(_report(item, "skipped", "done before", earlier=True))
        elif verdict.state == ledger.FAILED and not options.retry_failed:
            summary.jobs.append(_report(item, "failed", verdict.reason, earlier=True))
        else:
            folder = checkpoints.folder_for(
                root, item.key, verdict.input_hash, verdict.settings_hash, device
            )
            todo.append(Planned(item, verdict, folder))
    return todo


def _remove_partial_outputs(outputs: Iterable[Path]) -> None:
    """A kill -9 inside imaging.save_picture can leave its temp file (`.STEM.XXXX.partialEXT`),
    never a half-written output. One listing per output folder, however many jobs."""
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for output in outputs:
        wanted.setdefault(output.parent, set()).add((output.stem, output.suffix))
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and ".partial" in entry.name:
                head, _, suffix = entry.name[1:].rpartition(".partial")
                if (head.rpartition(".")[0], suffix) in names:
                    os.unlink(entry.path)


def _outcomes(tasks: Iterator[Task], options: RunOptions, workers: int) -> Iterator[Outcome]:
    calls = (delayed(run_task)(task) for task in tasks)
    # One task per dispatch, and no more dispatched than there are workers: a job marked running
    # in the ledger is one a worker is really running.
    run = dict(return_as="generator_unordered", batch_size=1, pre_dispatch="n_jobs")
    if options.backend == "loky":
        watch = dict(initializer=watch_coordinator, initargs=(os.getpid(),))
        with parallel_config(backend="loky", **watch):
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


def _check(options: RunOptions) -> None:
    if options.backend not in ("loky", "dask"):
        raise InputError(f"--backend {options.backend}: choose loky or dask")
    if options.backend == "dask" and not options.scheduler:
        raise InputError("--backend dask needs --scheduler tcp://HOST:PORT")
    if options.checkpoint_every is not None and options.checkpoint_every < 0:
        raise InputError("--checkpoint-every cannot be negative")


def run_batch(manifest: Manifest, options: RunOptions, display: Display = Quiet()) -> Summary:
    """Run every job of the manifest (or of its shard) that is not done yet.

    Raises Interrupted on Ctrl-C and Aborted when the workers die under it; both carry the
    summary so far, and leave the ledger ready for the next run to resume.
    """
    _check(options)
    started = time.monotonic()
    jobs = options.shard.pick(manifest.jobs) if options.shard else manifest.jobs
    shard = options.shard.name if options.shard else None
    local = options.backend == "loky"
    devices = worker_devices(options) if local else ("auto",)
    threads = options.threads or (max(1, _cores() // len(devices)) if local else None)
    state = ledger.state_dir(manifest.output)
    summary = Summary(str(manifest.path), str(manifest.output), workers=len(devices))

    with ledger.hold_lock(manifest.output, shard), \
            ledger.Ledger(state / ledger.ledger_name(shard)) as book:
        try:
            jobs, no_template = _auto_templates(manifest, jobs, estimate=True)
            todo = _triage(jobs, book, manifest, options, devices[0], summary, no_template)
            display.begin(len(todo), summary.count("skipped"), summary.count("failed"),
                          len(devices))
            planned = {plan.item.key: plan for plan in todo}
            # Failed jobs keep their checkpoints, for --retry-failed.
            prunable = [r.key for r in summary.jobs if r.state == "skipped"] + list(planned)
            keep = [plan.checkpoints for plan in todo]
            checkpoints.prune(state / "checkpoints", prunable, keep)
            _remove_partial_outputs(item.job.output for item in jobs)

            def tasks(port: int | None) -> Iterator[Task]:
                for plan in todo:  # consumed lazily, as workers free up
                    book.start(plan.item, plan.verdict.input_hash, plan.verdict.settings_hash)
                    yield _task(plan, options, devices, threads, port, state)

            with ProgressInbox(display) as inbox:
                port = inbox.port if local or _is_loopback(options.scheduler) else None
                for outcome in _outcomes(tasks(port), options, len(devices)):
                    report = _record(book, planned[outcome.key], outcome)
                    summary.jobs.append(report)
                    display.finished(report)
        except KeyboardInterrupt:
            _stop(book, summary, jobs, "interrupted (Ctrl-C)")
            raise Interrupted(summary) from None
        except InputError:
            _stop(book, summary, jobs, "interrupted")
            raise
        except Exception as problem:
            _stop(book, summary, jobs, f"interrupted ({type(problem).__name__})")
            raise Aborted(f"the workers stopped ({type(problem).__name__}: {problem}); "
                          "run again to resume", summary) from problem
        finally:
            summary.seconds = time.monotonic() - started
    return summary


def _is_loopback(scheduler: str | None) -> bool:
    host = re.sub(r"^\w+://", "", scheduler or "").rsplit(":", 1)[0].strip("[]")
    return host in LOOPBACK


def _report(item: BatchJob, state: str, reason: str | None = None, **extra: object) -> JobReport:
    return JobReport(item.key, str(item.job.image), str(item.job.output), state, reason, **extra)


def _task(
    plan: Planned, options: RunOptions, devices: tuple[str, ...], threads: int | None,
    port: int | None, state: Path,
) -> Task:
    every = options.checkpoint_every
    if every is None:
        every = plan.item.settings.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    return Task(
        key=plan.item.key,
        job=plan.item.job,
        settings=dataclasses.replace(plan.item.settings, checkpoint_every=every),
        checkpoints=plan.checkpoints,
        devices=devices,
        claims=state / "devices",
        threads=threads,
        progress_port=port,
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
    if outcome.error is None:
        book.finish(plan.item.key, ledger.DONE, None, outcome.warnings, outcome.info, detail)
        checkpoints.CheckpointFolder(plan.checkpoints).clear()
    else:
        if outcome.trace:
            detail["trace"] = outcome.trace
        book.finish(plan.item.key, ledger.FAILED, outcome.error, outcome.warnings, outcome.info,
                    detail)
    return _report(
        plan.item, "done" if outcome.error is None else "failed", outcome.error,
        warnings=outcome.warnings, seconds=outcome.seconds, resumed_from=outcome.resumed_from,
        device=outcome.device,
    )


def _stop(book: ledger.Ledger, summary: Summary, jobs: tuple[BatchJob, ...], why: str) -> None:
    """Whatever was running goes back to pending; the summary lists every job still to do."""
    book.interrupt(why)
    reported = {report.key for report in summary.jobs}
    for item in jobs:
        if item.key not in reported:
            summary.jobs.append(_report(item, "pending", why))


@dataclass(frozen=True)
class JobStatus:
    item: BatchJob
    state: str  # done | failed | pending | running
    reason: str | None
    attempts: int
    warnings: tuple[str, ...]
    info: dict = field(default_factory=dict)  # what the job found (a template's placement)


def batch_status(manifest: Manifest) -> list[JobStatus]:
    """Where every job of the manifest stands; read-only, safe while a run holds the folder."""
    records = ledger.read_all(manifest.output)
    folder = ledger.state_dir(manifest.output)
    readers = [ledger.Ledger(path, readonly=True) for path in sorted(folder.glob("ledger*.sqlite"))]
    try:
        hasher = ledger.Hasher(readers)
        statuses = []
        jobs, _ = _auto_templates(manifest, manifest.jobs, estimate=False)
        for item in jobs:
            record, running = records.get(item.key, (None, False))
            verdict = ledger.judge(item, record, hasher, running)
            statuses.append(JobStatus(
                item, verdict.state, verdict.reason,
                record.attempts if record else 0, record.warnings if record else (),
                record.info if record and verdict.state == ledger.DONE else {},
            ))
        return statuses
    finally:
        for reader in readers:
            reader.close()
