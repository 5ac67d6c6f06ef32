"""A video's progress: frames done, frames per second and the time left."""

from __future__ import annotations

import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.ui.console import console


class FrameProgress:
    """A rich bar on a terminal; a plain line every 10% otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None
        self.task = None
        self.started = time.monotonic()
        self.first: int | None = None  # frames already done when this run began (a resume)
        self.last_tenth = -1

    def __enter__(self) -> FrameProgress:
        if console.is_terminal and sys.stderr.isatty():
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("{task.fields[fps]:.1f} fps"),
                                TextColumn("left"), TimeRemainingColumn(), console=console)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None, fps=0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, done: int, total: int) -> None:
        if self.first is None:  # the rate counts from the first chunk this run finished
            self.first, self.started = done, time.monotonic()
        rate = (done - self.first) / max(time.monotonic() - self.started, 1e-6)
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, fps=rate)
            return
        tenth = done * 10 // max(total, 1)
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            speed = f", {rate:.1f} fps, {(total - done) / rate:.0f}s left" if rate > 0 else ""
            console.print(f"{self.label}: frame {done}/{total}{speed}", markup=False)
