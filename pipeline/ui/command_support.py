"""What every command of cli.py shares: one-line errors and exit codes, the lossy-output note,
a job's set-up (threads, leftovers of a killed run), and writing the batch report."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from pipeline.errors import InputError
from pipeline.ui import console

EXIT_INPUT = 2
EXIT_FAILED = 1
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp"}


def fail(message: str) -> None:
    console.error(message)
    raise typer.Exit(EXIT_INPUT)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Whatever stops a command ends as one red line and an exit code, never a traceback
    (UNMARK_TRACEBACK=1 shows the traceback of an unexpected one)."""
    from click.exceptions import ClickException, Exit

    try:
        yield
    except InputError as problem:
        fail(str(problem))
    except MemoryError:
        console.error("out of memory: the photo (or its fit) needs more memory than is free")
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as problem:
        from pipeline.io.paths import describe

        where = f"{problem.filename}: " if problem.filename else ""
        console.error(f"{where}{describe(problem)}")
        raise typer.Exit(EXIT_FAILED) from None
    except (typer.Exit, typer.Abort, Exit, ClickException, KeyboardInterrupt):
        raise
    except Exception as problem:
        if os.environ.get("UNMARK_TRACEBACK"):
            raise
        first = (str(problem).splitlines() or [""])[0]
        console.error(f"unexpected {type(problem).__name__}: {first} (a bug: please report "
                      "it; UNMARK_TRACEBACK=1 shows where)")
        raise typer.Exit(EXIT_FAILED) from None


def note_lossy(outputs: list[Path]) -> None:
    lossy = sorted({p.suffix.lower() for p in outputs} & LOSSY_SUFFIXES)
    if lossy:
        console.console.print(
            f"note: {'/'.join(lossy)} output re-encodes the whole photo: only the marked pixels "
            "change their content, but every pixel takes the codec's noise; write .png or .tif "
            "to keep the others bit for bit", markup=False, soft_wrap=True,
        )


def check_device(name: str) -> None:
    """A device that is misspelt or missing is refused before any work, whether or not the job
    will fit a network."""
    from pipeline import devices

    parsed = devices.parse(name)
    if parsed not in ("auto", "cpu"):
        devices.check_available(parsed)


def prepare(output: Path, threads: int | None) -> None:
    """Once a job's paths are checked: the threads, and no leftover of a killed run. torch is
    not loaded for it: a job that fits no network (template mode's inverse, the classic fill)
    never loads it, and one that does starts with the threads set here."""
    import cv2

    from pipeline.batch.cores import default_threads
    from pipeline.io.paths import remove_partial_outputs

    count = threads or default_threads()
    os.environ["OMP_NUM_THREADS"] = str(count)
    cv2.setNumThreads(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    remove_partial_outputs([output])  # what a killed earlier remove left beside it


def write_report(batch: object, output: Path | None, after_run: bool = False) -> None:
    """The batch's HTML report; after `run`, a report that cannot be written is only a warning."""
    from pipeline.ui.report import write_report as write

    try:
        written = write(batch, output)
    except (OSError, InputError) as problem:
        if not after_run:
            raise
        console.warning(f"no report written: {problem}")
        return
    console.console.print(
        f"report: {written.path} ({written.jobs} jobs, {written.doubtful} doubtful)",
        markup=False, soft_wrap=True,
    )
