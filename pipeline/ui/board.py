"""What a person sees of a batch: a live board on a terminal (an overall bar and a line per
worker), plain log lines otherwise, and the summaries printed after run, status and validate."""

from __future__ import annotations

import json
import os
import sys
import threading

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pipeline.batch.manifest import InputCheck, Manifest
from pipeline.batch.report import JobReport, JobStatus, Summary
from pipeline.batch.states import JobState
from pipeline.core.mark.placement import Placement
from pipeline.ui.console import console, error, warning

stdout = Console(highlight=False, soft_wrap=True)
STATE_STYLE = {JobState.DONE: "green", JobState.SKIPPED: "green", JobState.FAILED: "red",
               JobState.RUNNING: "cyan", JobState.PENDING: "yellow"}


def _short(path: str) -> str:
    """A path as the user would type it from here."""
    relative = os.path.relpath(path)
    return path if relative.startswith("../..") else relative


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{value:.1f}s"


def interactive() -> bool:
    return console.is_terminal and sys.stdout.isatty()


class BatchDisplay:
    """report.Display for people. Its methods are called from the coordinator's threads."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = interactive() if live is None else live
        self.lock = threading.Lock()
        self.board: Progress | None = None
        self.overall: TaskID | None = None
        self.rows: dict[int, TaskID] = {}  # worker pid -> its line
        self.names: dict[int, str] = {}
        self.devices: dict[int, str] = {}
        self.quarters: dict[str, int] = {}  # plain mode: the last quarter of a job logged
        self.todo = 0
        self.finished_count = 0
        self.failed = 0

    def __enter__(self) -> BatchDisplay:
        if self.live:
            self.board = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.board.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.board is not None:
            self.board.__exit__(*exc)

    def _say(self, text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def begin(self, todo: int, skipped: int, failed_before: int, workers: int) -> None:
        self.todo = todo
        earlier = [f"{skipped} done before"] if skipped else []
        earlier += [f"{failed_before} failed"] if failed_before else []
        noun = "worker" if workers == 1 else "workers"
        self._say(f"{todo} job(s) to run on {workers} {noun}"
                  + (f" ({', '.join(earlier)})" if earlier else ""))
        if self.board is not None:
            self.overall = self.board.add_task("[bold]jobs", total=todo, note="")

    def _worker(self, worker: int) -> str:
        if worker not in self.names:
            self.names[worker] = f"worker {len(self.names) + 1}"
        return self.names[worker]

    def started(self, worker: int, key: str, device: str) -> None:
        with self.lock:
            name = self._worker(worker)
            self.devices[worker] = device
            if self.board is None:
                self._say(f"start {key} ({name}, {device})")
                return
            note = f"{key}  {device}"
            if worker not in self.rows:
                self.rows[worker] = self.board.add_task(f"  {name}", total=None, note=note)
            else:
                self.board.reset(self.rows[worker], total=None, note=note)

    def step(self, worker: int, key: str, step: int, total: int, loss: float) -> None:
        with self.lock:
            if self.board is None:
                quarter = step * 4 // max(total, 1)
                if quarter > self.quarters.get(key, 0):
                    self.quarters[key] = quarter
                    self._say(f"{key}: step {step}/{total}, loss {loss:.5f}")
                return
            if worker in self.rows:
                note = f"{key}  loss {loss:.5f}  {self.devices.get(worker, '')}"
                self.board.update(self.rows[worker], completed=step, total=total, note=note)

    def finished(self, report: JobReport) -> None:
        with self.lock:
            self.finished_count += 1
            self.failed += report.state == JobState.FAILED
            self.quarters.pop(report.key, None)
            count = f"[{self.finished_count}/{self.todo}]"
            if report.state == JobState.DONE:
                resumed = f", resumed at step {report.resumed_from}" if report.resumed_from else ""
                line = f"{count} done {report.key} in {_seconds(report.seconds)}{resumed}"
            else:
                line = f"{count} failed {report.key}: {report.reason}"
            if self.board is None or report.state != JobState.DONE:
                self._say(line)
            for note in report.warnings:
                warning(f"{report.key}: {note}")
            if self.board is not None:
                failed = f"[red]{self.failed} failed[/]" if self.failed else ""
                self.board.update(self.overall, advance=1, note=failed)


def print_summary(summary: Summary, as_json: bool) -> None:
    if as_json:
        stdout.print_json(json.dumps(summary.as_dict()))
        return
    done, skipped = summary.count(JobState.DONE), summary.count(JobState.SKIPPED)
    failed, pending = summary.count(JobState.FAILED), summary.count(JobState.PENDING)
    parts = [f"{done} done"]
    parts += [f"{skipped} done before"] if skipped else []
    parts += [f"[red]{failed} failed[/]"] if failed else []
    parts += [f"[yellow]{pending} not done[/]"] if pending else []
    parts += [f"[yellow]{summary.doubtful} doubtful[/]"] if summary.doubtful else []
    console.print(f"{', '.join(parts)} in {_seconds(summary.seconds)}; outputs in "
                  f"{escape(_short(summary.output))}", soft_wrap=True)
    for report in summary.jobs:
        if report.state == JobState.FAILED:
            error(f"{report.key}: {report.reason}")
        elif report.doubts:
            warning(f"{report.key}: doubtful: {'; '.join(report.doubts)}")
    if any(r.state == JobState.FAILED and r.earlier for r in summary.jobs):
        console.print("jobs that failed in an earlier run are not tried again unless you pass "
                      "--retry-failed (or change their inputs or settings)", markup=False,
                      soft_wrap=True)


def print_interrupted(summary: Summary, manifest: str) -> None:
    done, left = summary.count(JobState.DONE), summary.count(JobState.PENDING)
    console.print(f"[yellow]stopped[/]: {done} done in this run, {left} left. "
                  f"Run `unmark run {escape(manifest)}` again to resume (finished jobs are kept, "
                  "interrupted ones go on from their last checkpoint).", soft_wrap=True)


def _found(info: dict) -> str:
    """A template job's placement, as a short note."""
    place = info.get("placement")
    return Placement.from_dict(place).describe(brief=True) if place else ""


def print_status(manifest: Manifest, statuses: list[JobStatus], as_json: bool) -> None:
    counts = {state.value: 0 for state in
              (JobState.DONE, JobState.FAILED, JobState.PENDING, JobState.RUNNING)}
    for status in statuses:
        counts[status.state] += 1
    if as_json:
        stdout.print_json(json.dumps({
            "manifest": str(manifest.path),
            "output": str(manifest.output),
            "counts": counts,
            "jobs": [
                {"key": s.item.key, "image": str(s.item.job.image), "output":
                 str(s.item.job.output), "state": s.state, "reason": s.reason,
                 "attempts": s.attempts, "warnings": list(s.warnings), "info": s.info,
                 "doubtful": bool(s.doubts), "doubts": list(s.doubts)}
                for s in statuses
            ],
            "doubtful": sum(bool(s.doubts) for s in statuses),
        }))
        return
    rows = []
    for status in statuses:
        doubts = [] if status.state == JobState.FAILED else list(status.doubts)
        note = "; ".join(filter(None, [*(f"doubtful: {d}" for d in doubts), status.reason,
                                       *status.warnings, _found(status.info)]))
        flag = "doubtful" if doubts else ""
        rows.append((status.state, flag, _short(str(status.item.job.image)),
                     _short(str(status.item.job.output)), note))
    if stdout.is_terminal:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("state", "flag", "image", "output", "note"):
            table.add_column(column, overflow="fold")
        for state, flag, *rest in rows:
            table.add_row(f"[{STATE_STYLE[state]}]{state}[/]", f"[yellow]{flag}[/]", *rest)
        stdout.print(table)
    else:  # one line per job, whole, for grep and friends
        for row in rows:
            stdout.print("  ".join(filter(None, row)), markup=False)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    doubtful = sum(bool(s.doubts) and s.state != JobState.FAILED for s in statuses)
    flagged = f", {doubtful} doubtful" if doubtful else ""
    stdout.print(f"{len(statuses)} jobs: {summary}{flagged}")


def print_checks(checks: list[InputCheck]) -> None:
    problems = [check for check in checks if check.problem]
    for check in checks:
        if check.problem:
            error(f"{check.item.key}: {check.problem}")
        for note in check.warnings:
            warning(f"{check.item.key}: {note}")
    if problems:
        stdout.print(f"{len(problems)} of {len(checks)} jobs would fail")
    else:
        stdout.print(f"{len(checks)} jobs: every input exists and decodes")
