"""What is done, on disk: a SQLite ledger in the output folder, so a batch can resume.

A job is keyed by its output path inside the output folder. Its record is current while the hash
of the job's inputs and the fingerprint of its settings match the stored ones: a changed photo,
mask or setting makes the job pending again. Only the coordinating process writes; `status`
reads the same file, read-only, while a run holds the lock.

A sharded run (`--shard 2/4`, one per cluster array task) keeps its own ledger and lock beside the
others, so shards on different machines never write one SQLite file; readers merge them all.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.errors import InputError
from pipeline.manifest import AUTO_TEMPLATE, BatchJob

STATE_DIR = ".unmark"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
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
    info TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    updated REAL NOT NULL
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
HASH_CHUNK = 1 << 20
LOCK_TRIES = 4


class Busy(InputError):
    """Another run holds the output folder."""


def state_dir(output: Path) -> Path:
    return output / STATE_DIR


def ledger_name(shard: str | None) -> str:
    return f"ledger.{shard}.sqlite" if shard else "ledger.sqlite"


def _lock_name(ledger: str) -> str:
    return ledger.removesuffix(".sqlite").replace("ledger", "lock", 1)


@dataclass(frozen=True)
class Record:
    key: str
    image: str
    output: str
    input_hash: str
    settings_hash: str
    state: str
    reason: str | None
    warnings: tuple[str, ...]
    info: dict
    attempts: int
    started: float | None
    finished: float | None
    updated: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Record:
        values = dict(row)
        values["warnings"] = tuple(json.loads(values["warnings"]))
        values["info"] = json.loads(values["info"])
        return cls(**values)


@dataclass(frozen=True)
class Event:
    key: str
    state: str
    at: float
    detail: dict


class Ledger:
    """One ledger file. Safe to share between the coordinator's threads (one lock, one
    connection); every change is one transaction, durable before the call returns."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as problem:
            raise InputError(
                f"{path}: cannot open the ledger ({problem}); move it away to start the batch "
                "from scratch"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # WAL lets `status` read while the run writes; a sharded ledger may sit on a network
            # file system, where WAL's shared memory does not work.
            journal = "DELETE" if self.path.name != ledger_name(None) else "WAL"
            db.execute(f"PRAGMA journal_mode={journal}")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
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
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs").fetchall()
        return {row["key"]: Record.from_row(row) for row in rows}

    def events(self, key: str | None = None) -> list[Event]:
        query, args = "SELECT key, state, at, detail FROM events", ()
        if key is not None:
            query, args = query + " WHERE key = ?", (key,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [Event(r["key"], r["state"], r["at"], json.loads(r["detail"])) for r in rows]

    def _upsert(
        self, item: BatchJob, input_hash: str, settings_hash: str, state: str,
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
                     info = '{}', attempts = jobs.attempts + excluded.attempts,
                     started = excluded.started, finished = NULL, updated = excluded.updated""",
                (item.key, str(item.job.image), str(item.job.output), input_hash, settings_hash,
                 state, reason, attempt, started, now),
            )
            self._event(db, item.key, state, {"reason": reason} if reason else {})

    def start(self, item: BatchJob, input_hash: str, settings_hash: str) -> None:
        """The job was handed to a worker: one more attempt."""
        self._upsert(item, input_hash, settings_hash, RUNNING, None, 1, time.time())

    def refuse(self, item: BatchJob, input_hash: str, settings_hash: str, reason: str) -> None:
        """The job failed before it could start (its inputs cannot be read)."""
        self._upsert(item, input_hash, settings_hash, FAILED, reason, 0, None)

    def finish(
        self, key: str, state: str, reason: str | None = None,
        warnings: Iterable[str] = (), info: dict | None = None, detail: dict | None = None,
    ) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                """UPDATE jobs SET state = ?, reason = ?, warnings = ?, info = ?, finished = ?,
                   updated = ? WHERE key = ?""",
                (state, reason, json.dumps(list(warnings)), json.dumps(info or {}), now, now, key),
            )
            self._event(db, key, state, {"reason": reason, **(detail or {})})

    def interrupt(self, reason: str) -> list[str]:
        """Every job still marked running goes back to pending (it resumes next run)."""
        with self._write() as db:
            keys = [r[0] for r in db.execute("SELECT key FROM jobs WHERE state = ?", (RUNNING,))]
            db.execute(
                "UPDATE jobs SET state = ?, reason = ?, updated = ? WHERE state = ?",
                (PENDING, reason, time.time(), RUNNING),
            )
            for key in keys:
                self._event(db, key, PENDING, {"reason": reason})
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


class Hasher:
    """Content hashes of input files. A file whose size and mtime are unchanged since it was
    last hashed is not read again (like git's index), so a rerun over a big folder is quick."""

    def __init__(self, ledgers: Iterable[Ledger]) -> None:
        self.ledgers = list(ledgers)
        self.seen: dict[str, str] = {}

    def file(self, path: Path) -> str:
        name = str(path)
        if name in self.seen:
            return self.seen[name]
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as problem:
            raise InputError(f"{path}: cannot read ({problem.strerror})") from None
        digest = next(
            (h for ledger in self.ledgers if (h := ledger.known_hash(name, stat.st_size,
                                                                    stat.st_mtime_ns))),
            None,
        )
        if digest is None:
            sha = hashlib.sha256()
            try:
                with open(path, "rb") as stream:
                    while chunk := stream.read(HASH_CHUNK):
                        sha.update(chunk)
            except OSError as problem:
                raise InputError(f"{path}: cannot read ({problem.strerror})") from None
            digest = sha.hexdigest()
            for ledger in self.ledgers:
                ledger.remember_hash(name, stat.st_size, stat.st_mtime_ns, digest)
        self.seen[name] = digest
        return digest

    def job(self, item: BatchJob) -> str:
        """One hash over everything the job reads: the photo, its mask or template, and how the
        mask is read."""
        job = item.job
        parts = {
            "image": self.file(job.image),
            "mask": self.file(job.mask) if job.mask else None,
            "template": (
                str(job.template) if job.template == AUTO_TEMPLATE
                else self.file(job.template) if job.template else None
            ),
            "invert_mask": job.invert_mask,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    """Where one job stands against what the ledgers remember."""

    state: str  # pending | running | done | failed
    reason: str | None
    input_hash: str | None  # None: its inputs cannot be read
    settings_hash: str
    record: Record | None


def judge(item: BatchJob, record: Record | None, hasher: Hasher, running: bool) -> Verdict:
    """`running`: the record's ledger is held by a live run right now."""
    settings_hash = item.settings.fingerprint()
    try:
        input_hash = hasher.job(item)
    except InputError as problem:
        return Verdict(FAILED, str(problem), None, settings_hash, record)
    if record is None:
        return Verdict(PENDING, None, input_hash, settings_hash, None)
    if record.state == RUNNING:
        if running:
            return Verdict(RUNNING, None, input_hash, settings_hash, record)
        return Verdict(PENDING, "interrupted; resumes from its last checkpoint", input_hash,
                       settings_hash, record)
    if record.input_hash != input_hash:
        return Verdict(PENDING, f"inputs changed since it was {record.state}", input_hash,
                       settings_hash, record)
    if record.settings_hash != settings_hash:
        return Verdict(PENDING, f"settings changed since it was {record.state}", input_hash,
                       settings_hash, record)
    if record.state == DONE and not item.job.output.is_file():
        return Verdict(PENDING, "output missing", input_hash, settings_hash, record)
    return Verdict(record.state, record.reason, input_hash, settings_hash, record)


def _held(lock_file: Path) -> bool:
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


def read_all(output: Path, skip: str | None = None) -> dict[str, tuple[Record, bool]]:
    """Every ledger in the output folder, merged, read-only: key -> (latest record, whether a
    live run holds that record's ledger)."""
    merged: dict[str, tuple[Record, bool]] = {}
    folder = state_dir(output)
    for path in sorted(folder.glob("ledger*.sqlite")):
        if path.name == skip:
            continue
        running = _held(folder / _lock_name(path.name))
        try:
            with Ledger(path, readonly=True) as ledger:
                records = ledger.records()
        except sqlite3.Error as problem:
            raise InputError(f"{path}: cannot read the ledger ({problem})") from None
        for key, record in records.items():
            if key not in merged or merged[key][0].updated < record.updated:
                merged[key] = (record, running)
    return merged


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
        wanted.append((_lock_name(ledger_name(shard)), fcntl.LOCK_EX))
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
