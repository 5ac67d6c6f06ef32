"""What a person sees: progress bars, warnings and errors, one line each."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.errors import UnmarkWarning

console = Console(stderr=True, highlight=False)


def one_line(text: str) -> str:
    """Text as one line whatever it quotes (a file name may hold a newline), safe for markup
    (a file named `[/x].png` is a name, not a closing tag)."""
    return escape(text.replace("\r", "\\r").replace("\n", "\\n"))


def error(message: str) -> None:
    console.print(f"[bold red]error:[/] {one_line(message)}", markup=True, soft_wrap=True)


def warning(message: str) -> None:
    console.print(f"[yellow]warning:[/] {one_line(message)}", markup=True, soft_wrap=True)


@contextmanager
def warnings_to_console() -> Iterator[None]:
    """Show UnmarkWarnings as one yellow line each, not Python's two-line format."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, UnmarkWarning):
            warning(str(message))
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UnmarkWarning)
            yield
    finally:
        warnings.showwarning = previous


class StepProgress:
    """A rich bar (step, loss, ETA) on a terminal; a plain line every 10% otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.interactive = console.is_terminal and sys.stderr.isatty()
        self.task = None
        self.bar: Progress | None = None
        self.last_tenth = -1
        self.started = time.monotonic()

    def __enter__(self) -> StepProgress:
        if self.interactive:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.5f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None, loss=float("nan"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, done: int, total: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, loss=loss)
            return
        tenth = done * 10 // max(total, 1)
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            elapsed = time.monotonic() - self.started
            console.print(
                f"{self.label}: step {done}/{total} loss {loss:.5f} elapsed {elapsed:.0f}s",
                markup=False,
            )
