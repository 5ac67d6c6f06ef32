"""Who holds an output folder: flock locks beside the ledgers (they die with their process,
even on kill -9), so two runs never write one folder and `status` can tell a live run."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pipeline.errors import InputError

STATE_DIR = ".unmark"
LOCK_TRIES = 4


class Busy(InputError):
    """Another run holds the output folder."""


def state_dir(output: Path) -> Path:
    return output / STATE_DIR


def check_state_dir(output: Path) -> Path:
    """The state folder, refused when it (or anything in it) is a symlink: the ledger, the
    report and emptied scratch folders would land outside the output."""
    state = state_dir(output)
    inside = sorted(state.iterdir()) if state.is_dir() and not state.is_symlink() else []
    for path in (state, *inside):
        if path.is_symlink():
            raise InputError(f"{path}: is a symlink (to {os.path.realpath(path)}); unmark keeps "
                             "its ledger there and empties folders in it: refusing. Make it a "
                             "plain folder (or remove it)")
    return state


def ledger_name(shard: str | None) -> str:
    return f"ledger.{shard}.sqlite" if shard else "ledger.sqlite"


def lock_name(ledger: str) -> str:
    return ledger.removesuffix(".sqlite").replace("ledger", "lock", 1)


def held(lock_file: Path) -> bool:
    """Does a live run hold this lock? (flock locks die with their process, even on kill -9.)"""
    try:
        handle = open(lock_file)
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _try_lock(handle: IO, mode: int) -> bool:
    """A few tries: `status` takes a shared lock for an instant to see whether a run is on."""
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < LOCK_TRIES:
                time.sleep(0.05)
    return False


@contextmanager
def hold_lock(output: Path, shard: str | None) -> Iterator[None]:
    """Hold the output folder for one run. A sharded run shares the folder with its sibling
    shards but not with a second copy of itself, nor with an unsharded run."""
    folder = state_dir(output)
    folder.mkdir(parents=True, exist_ok=True)
    handles: list[tuple[IO, int]] = []
    wanted = [("lock", fcntl.LOCK_SH if shard else fcntl.LOCK_EX)]
    if shard:
        wanted.append((lock_name(ledger_name(shard)), fcntl.LOCK_EX))
    try:
        for name, mode in wanted:
            handle = open(folder / name, "a+")
            if not _try_lock(handle, mode):
                handle.seek(0)
                holder = handle.read().strip() or "sharded runs"  # shared holders write nothing
                handle.close()
                raise Busy(
                    f"{output}: another `unmark run` is working on this folder ({holder}); "
                    "wait for it to finish or stop it, then run again"
                ) from None
            handles.append((handle, mode))
            if mode == fcntl.LOCK_EX:
                handle.truncate(0)
                handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
                handle.flush()
        yield
    finally:
        for handle, mode in reversed(handles):
            if mode == fcntl.LOCK_EX:
                handle.truncate(0)  # the note names a live holder only
            handle.close()  # closing drops the lock
