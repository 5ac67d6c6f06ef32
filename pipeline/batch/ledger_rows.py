"""The ledger's tables and rows: its SQL schema, the columns every version has, a row read
into a typed Record, and the one-line messages for a ledger that is damaged or unwritable."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.batch.facts import JobFacts
from pipeline.batch.states import JobState
from pipeline.errors import InputError, StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    image TEXT NOT NULL,
    output TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    reason TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    updated REAL NOT NULL,
    facts TEXT NOT NULL DEFAULT '{}',
    spent REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""
# Columns added since the first ledgers: (name, declaration). Added on open, so an older ledger
# stays readable (its rows read the default) and gains them when a run next writes it. Older
# ledgers' `info` and `review` columns are left as they are, unread.
ADDED_COLUMNS = (("facts", "TEXT NOT NULL DEFAULT '{}'"), ("spent", "REAL NOT NULL DEFAULT 0"))
# What every ledger since the first has; a `jobs` table without them is another program's.
REQUIRED_COLUMNS = {"key", "image", "output", "input_hash", "settings_hash", "state", "reason",
                    "warnings", "attempts", "started", "finished", "updated"}


def empty_file(path: Path) -> bool:
    """A zero-byte ledger has lost what it knew: every ledger is written with its header
    first (switching to WAL writes it), so a journal beside it cannot make it whole."""
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def damaged(path: Path, why: str) -> InputError:
    companions = [path.with_name(path.name + tail) for tail in ("-wal", "-shm")]
    moves = "; ".join(f"mv {p} {path}.damaged{p.name[len(path.name):]}"
                      for p in companions if p.exists())
    return InputError(
        f"{path}: the ledger is damaged ({why}); nothing was run. "
        f"Move it aside (mv {path} {path}.damaged{'; ' + moves if moves else ''}) to start the "
        "batch over: outputs already written are then redone"
    )


def unwritable(path: Path, problem: sqlite3.Error) -> StorageError:
    return StorageError(f"{path}: the ledger cannot be written ({problem}); check the "
                        "permissions of the file and its folder")


@dataclass(frozen=True)
class Record:
    key: str
    image: str
    output: str
    input_hash: str
    settings_hash: str
    state: JobState
    reason: str | None
    warnings: tuple[str, ...]
    attempts: int
    started: float | None
    finished: float | None
    updated: float
    facts: JobFacts | None = None  # what the finished job did (None: an older ledger's row)
    spent: float = 0.0  # seconds of the attempts that ended so far

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Record:
        values = {name: row[name] for name in row.keys() if name in RECORD_FIELDS}
        warnings = json.loads(values["warnings"])
        if not isinstance(warnings, list):
            raise ValueError(f"job {values['key']}: its warnings are not a list")
        values["warnings"] = tuple(str(note) for note in warnings)
        values["facts"] = JobFacts.from_json(values.get("facts"))
        values["spent"] = float(values.get("spent") or 0.0)
        values["state"] = JobState(values["state"])
        return cls(**values)


RECORD_FIELDS = {f.name for f in fields(Record)}


@dataclass(frozen=True)
class Event:
    key: str
    state: JobState
    at: float
    detail: dict


def columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(jobs)")}


def migrate(db: sqlite3.Connection) -> None:
    present = columns(db)
    for name, declaration in ADDED_COLUMNS:
        if name not in present:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
