"""What is done, on disk: a SQLite ledger in the output folder, so a batch can resume.

A job is keyed by its output path inside the output folder. Its record is current while the hash
of the job's inputs and the fingerprint of its settings match the stored ones: a changed photo,
mask or setting makes the job pending again. Only the coordinating process writes; `status`
reads the same file, read-only, while a run holds the lock.

Hashing the inputs lives in hashing.py, the redo policy in plan.py, the locks in locks.py.

A sharded run (`--shard 2/4`, one per cluster array task) keeps its own ledger and lock beside the
others, so shards on different machines never write one SQLite file; readers merge them all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from pipeline.batch.facts import JobFacts
from pipeline.batch.locks import held, ledger_name, lock_name, state_dir
from pipeline.batch.manifest import BatchJob
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


def _empty_file(path: Path) -> bool:
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


def _unwritable(path: Path, problem: sqlite3.Error) -> StorageError:
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


def _columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(jobs)")}


def _migrate(db: sqlite3.Connection) -> None:
    present = _columns(db)
    for name, declaration in ADDED_COLUMNS:
        if name not in present:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")


BUSY_SECONDS = 30  # how long to wait for another process's write (a loaded machine is slow)


class Ledger:
    """One ledger file. Safe to share between the coordinator's threads (one lock, one
    connection); every change is one transaction, durable before the call returns."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        if _empty_file(path):
            raise damaged(path, "it is empty (0 bytes)")
        try:
            self._db = self._connect()
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
        except sqlite3.OperationalError as problem:
            if "locked" in str(problem) or "busy" in str(problem):
                raise InputError(f"{path}: the ledger stayed locked by another process for "
                                 f"{BUSY_SECONDS} s; try again") from None
            if not readonly and ("readonly" in str(problem) or "unable to open" in str(problem)):
                raise _unwritable(path, problem) from None
            raise damaged(path, str(problem)) from None
        except sqlite3.DatabaseError as problem:
            raise damaged(path, str(problem)) from None
        if problems != ["ok"]:
            self._db.close()
            raise damaged(path, "; ".join(problems))
        present = _columns(self._db)
        if present and not REQUIRED_COLUMNS <= present:
            self._db.close()
            raise damaged(path, "written by another program or version")

    def _connect_readonly(self, how: str) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?{how}"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_SECONDS)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            try:
                db = self._connect_readonly("mode=ro")
            except sqlite3.OperationalError as problem:
                if "locked" in str(problem) or "busy" in str(problem):
                    raise  # a run is writing: reading it as immutable would see a torn file
                # a folder we may not write: no WAL index either
                db = self._connect_readonly("immutable=1")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                 timeout=BUSY_SECONDS)
            present = _columns(db)  # before anything is written to another program's file
            if present and not REQUIRED_COLUMNS <= present:
                db.close()
                raise sqlite3.DatabaseError("written by another program or version")
            # WAL lets `status` read while the run writes; a sharded ledger may sit on a network
            # file system, where WAL's shared memory does not work.
            journal = "DELETE" if self.path.name != ledger_name(None) else "WAL"
            db.execute(f"PRAGMA journal_mode={journal}")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            _migrate(db)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        return db

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close, leaving no -wal or -shm file behind when no reader is left: a reader that
        closes last cannot remove them, so the writer goes back to a plain journal."""
        with self._lock:
            if not self.readonly:
                try:
                    self._db.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass  # a reader (`status`) is still open: the next writer tidies up
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as problem:
                if "readonly" in str(problem):
                    raise _unwritable(self.path, problem) from None
                raise
            try:
                yield self._db
            except sqlite3.OperationalError as problem:
                self._db.execute("ROLLBACK")
                if "readonly" in str(problem):
                    raise _unwritable(self.path, problem) from None
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _event(self, db: sqlite3.Connection, key: str, state: str, detail: dict) -> None:
        db.execute(
            "INSERT INTO events (key, state, at, detail) VALUES (?, ?, ?, ?)",
            (key, state, time.time(), json.dumps(detail)),
        )

    def records(self) -> dict[str, Record]:
        try:
            with self._lock:
                rows = self._db.execute("SELECT * FROM jobs").fetchall()
            return {row["key"]: Record.from_row(row) for row in rows}
        except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as problem:
            raise damaged(self.path, str(problem)) from None

    def events(self, key: str | None = None) -> list[Event]:
        query, args = "SELECT key, state, at, detail FROM events", ()
        if key is not None:
            query, args = query + " WHERE key = ?", (key,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [Event(r["key"], JobState(r["state"]), r["at"], json.loads(r["detail"]))
                for r in rows]

    def _upsert(
        self, item: BatchJob, input_hash: str, settings_hash: str, state: JobState,
        reason: str | None, attempt: int, started: float | None,
    ) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                """INSERT INTO jobs (key, image, output, input_hash, settings_hash, state, reason,
                                     attempts, started, finished, updated)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
                   ON CONFLICT (key) DO UPDATE SET
                     image = excluded.image, output = excluded.output,
                     input_hash = excluded.input_hash, settings_hash = excluded.settings_hash,
                     state = excluded.state, reason = excluded.reason, warnings = '[]',
                     facts = '{}', attempts = jobs.attempts + excluded.attempts,
                     spent = CASE WHEN jobs.state != 'done'
                                   AND jobs.input_hash = excluded.input_hash
                                   AND jobs.settings_hash = excluded.settings_hash
                             THEN jobs.spent ELSE 0 END,
                     started = excluded.started, finished = NULL, updated = excluded.updated""",
                (item.key, str(item.job.image), str(item.job.output), input_hash, settings_hash,
                 state, reason, attempt, started, now),
            )
            self._event(db, item.key, state, {"reason": reason} if reason else {})

    def start(self, item: BatchJob, input_hash: str, settings_hash: str) -> None:
        """The job was handed to a worker: one more attempt."""
        self._upsert(item, input_hash, settings_hash, JobState.RUNNING, None, 1, time.time())

    def refuse(self, item: BatchJob, input_hash: str, settings_hash: str, reason: str) -> None:
        """The job failed before it could start (its inputs cannot be read)."""
        self._upsert(item, input_hash, settings_hash, JobState.FAILED, reason, 0, None)

    def finish(
        self, key: str, state: JobState, reason: str | None = None,
        facts: JobFacts | None = None, detail: dict | None = None, warnings: Iterable[str] = (),
        seconds: float = 0.0,
    ) -> None:
        """The job ended after `seconds` (the facts' own, when it has facts); its facts are kept
        with their seconds summed over every attempt."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT spent FROM jobs WHERE key = ?", (key,)).fetchone()
            spent = (float(row[0]) if row else 0.0) + (facts.seconds if facts else seconds)
            if facts is not None:
                facts = replace(facts, seconds=spent)
                warnings = facts.warnings
            db.execute(
                """UPDATE jobs SET state = ?, reason = ?, warnings = ?, facts = ?, spent = ?,
                   finished = ?, updated = ? WHERE key = ?""",
                (state, reason, json.dumps(list(warnings)), facts.to_json() if facts else "{}",
                 spent, now, now, key),
            )
            self._event(db, key, state, {"reason": reason, **(detail or {})})

    def interrupt(self, reason: str) -> list[str]:
        """Every job still marked running goes back to pending (it resumes next run)."""
        with self._write() as db:
            running = db.execute("SELECT key FROM jobs WHERE state = ?", (JobState.RUNNING,))
            keys = [r[0] for r in running]
            now = time.time()
            db.execute(  # the time the stopped attempts spent counts toward their jobs' seconds
                """UPDATE jobs SET state = ?, reason = ?, updated = ?,
                   spent = spent + MAX(0, ? - COALESCE(started, ?)) WHERE state = ?""",
                (JobState.PENDING, reason, now, now, now, JobState.RUNNING),
            )
            for key in keys:
                self._event(db, key, JobState.PENDING, {"reason": reason})
        return keys

    def known_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                (path, size, mtime_ns),
            ).fetchone()
        return row[0] if row else None

    def remember_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        if self.readonly:
            return
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", (path, size, mtime_ns, sha256)
            )


def read_all(output: Path, skip: str | None = None) -> dict[str, tuple[Record, bool]]:
    """Every ledger in the output folder, merged, read-only: key -> (latest record, whether a
    live run holds that record's ledger)."""
    merged: dict[str, tuple[Record, bool]] = {}
    folder = state_dir(output)
    for path in sorted(folder.glob("ledger*.sqlite")):
        if path.name == skip:
            continue
        running = held(folder / lock_name(path.name))
        try:
            with Ledger(path, readonly=True) as ledger:
                records = ledger.records()
        except sqlite3.Error as problem:
            raise damaged(path, str(problem)) from None
        for key, record in records.items():
            if key not in merged or merged[key][0].updated < record.updated:
                merged[key] = (record, running)
    return merged


