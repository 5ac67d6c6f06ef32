"""Robust 3 for ledgers: a zero-byte ledger beside its -wal, another version's ledger, edited
JSON and a ledger that cannot be written each give one line and exit 2 with nothing redone;
a finished run leaves no -wal or -shm behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batchkit import standard
from typer.testing import CliRunner

import cli
from pipeline.batch import ledger

FAST = ["--threads", "1", "--devices", "cpu"]


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def contents(root: Path, state: bool = True) -> dict[str, bytes]:
    """Every file under root (with the state folder, or without it)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and (state or ".unmark" not in p.parts)}


def _done_batch(tmp_path: Path) -> tuple[Path, Path]:
    path = standard(tmp_path, count=2, steps=2)
    assert unmark("run", path, *FAST).exit_code == 0
    return path, tmp_path / "out" / ".unmark" / "ledger.sqlite"


def _refused(path: Path, text: str, commands=("run", "status", "report")) -> None:
    for command in commands:
        run = unmark(command, path, *(FAST if command == "run" else ()))
        assert run.exit_code == 2, (command, run.output)
        assert text in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_run_leaves_no_wal_or_shm_and_status_after_it_neither(tmp_path: Path) -> None:
    path, book = _done_batch(tmp_path)
    assert unmark("status", path).exit_code == 0
    assert unmark("report", path).exit_code == 0
    assert sorted(p.name for p in book.parent.glob("ledger*")) == ["ledger.sqlite"]


def test_a_zero_byte_ledger_beside_its_wal_is_refused_and_nothing_redone(tmp_path: Path) -> None:
    path, book = _done_batch(tmp_path)
    book.write_bytes(b"")
    (book.parent / "ledger.sqlite-wal").write_bytes(b"\0" * 64)  # a journal left beside it
    before = contents(tmp_path)
    _refused(path, "the ledger is damaged (it is empty (0 bytes))", ("run", "status"))
    run = unmark("run", path, *FAST)
    assert f"mv {book}-wal {book}.damaged-wal" in run.stderr.replace("\n", "")
    assert contents(tmp_path) == before


def test_a_ledger_of_another_version_is_refused(tmp_path: Path) -> None:
    path, book = _done_batch(tmp_path)
    book.unlink()
    with sqlite3.connect(book) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, path TEXT, done INTEGER)")
    before = contents(tmp_path)
    _refused(path, "written by another program or version")
    assert contents(tmp_path) == before


def test_edited_json_in_the_ledger_is_refused_on_every_command(tmp_path: Path) -> None:
    path, book = _done_batch(tmp_path)
    for column, value in (("warnings", '{"a": 1}'), ("facts", "[1, 2]"),
                          ("facts", '{"version": 1, "route": "mask"}')):
        with sqlite3.connect(book) as db:
            db.execute(f"UPDATE jobs SET {column} = ?", (value,))
        before = contents(tmp_path, state=False)
        _refused(path, "the ledger is damaged")
        assert contents(tmp_path, state=False) == before  # no output redone
        with sqlite3.connect(book) as db:
            db.execute("UPDATE jobs SET warnings = '[]', facts = '{}'")


def test_a_ledger_that_cannot_be_written_is_one_line(tmp_path: Path, monkeypatch) -> None:
    path, book = _done_batch(tmp_path)
    real = sqlite3.connect

    def read_only(target, *args, **kwargs):  # what a read-only file or mount does to a write
        if str(target) == str(book):
            return real(f"{book.resolve().as_uri()}?mode=ro", *args, uri=True, **kwargs)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(ledger.sqlite3, "connect", read_only)
    before = contents(tmp_path, state=False)
    _refused(path, "the ledger cannot be written", ("run",))
    assert contents(tmp_path, state=False) == before
