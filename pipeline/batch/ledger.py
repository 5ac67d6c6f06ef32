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
from dataclasses import replace
from pathlib import Path

from pipeline.batch.facts import JobFacts
from pipeline.batch.ledger_rows import (
    REQUIRED_COLUMNS,
    SCHEMA,
    Event,
    Record,
    columns,
    damaged,
    empty_file,
    migrate,
    unwritable,
)
from pipeline.batch.locks import held, ledger_name, lock_name, state_dir
from pipeline.batch.manifest import BatchJob
from pipeline.batch.states import JobState
from pipeline.errors import InputError

__all__ = ["Event", "Ledger", "Record", "damaged", "ledger_name", "read_all", "state_dir"]

BUSY_SECONDS = 30  # how long to wait for another process's write (a loaded machine is slow)


class Ledger:
    """One ledger file. Safe to share between the coordinator's threads (one lock, one
    connection); every change is one transaction, durable before the call returns."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        if empty_file(path):
            raise damaged(path, "it is empty (0 bytes)")
        try:
            self._db = self._connect()
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
        except sqlite3.OperationalError as problem:
            if "locked" in str(problem) or "busy" in str(problem):
                raise InputError(f"{path}: the ledger stayed locked by another process for "
                                 f"{BUSY_SECONDS} s; try again") from None
            if not readonly and ("readonly" in str(problem) or "unable to open" in str(problem)):
                raise unwritable(path, problem) from None
            raise damaged(path, str(problem)) from None
        except sqlite3.DatabaseError as problem:
            raise damaged(path, str(problem)) from None
        if problems != ["ok"]:
            self._db.close()
            raise damaged(path, "; ".join(problems))
        present = columns(self._db)
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
            present = columns(db)  # before anything is written to another program's file
            if present and not REQUIRED_COLUMNS <= present:
                db.close()
                raise sqlite3.DatabaseError("written by another program or version")
            # WAL lets `status` read while the run writes; a sharded ledger may sit on a network
            # file system, where WAL's shared memory does not work.
            journal = "DELETE" if self.path.name != ledger_name(None) else "WAL"
            db.execute(f"PRAGMA journal_mode={journal}")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            migrate(db)
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
                    raise unwritable(self.path, problem) from None
                raise
            try:
                yield self._db
            except sqlite3.OperationalError as problem:
                self._db.execute("ROLLBACK")
                if "readonly" in str(problem):
                    raise unwritable(self.path, problem) from None
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


