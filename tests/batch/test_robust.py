"""Issue #12 for batches: manifests, ledgers and folders that are wrong or damaged give one line,
and never cost a user's file."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

import pytest
import torch
import yaml
from batchkit import folder, photo, standard, tiny_settings
from typer.testing import CliRunner

import cli
from pipeline.batch import ledger
from pipeline.batch.coordinator import BatchOptions, worker_devices
from pipeline.batch.manifest import load_manifest
from pipeline.batch.worker import Task, run_task
from pipeline.errors import InputError, StorageError
from pipeline.io.checkpoints import RegionCheckpoint

FAST = ["--threads", "1", "--devices", "cpu"]


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def batch(root: Path, output: str, images: str, mask: str) -> Path:
    body = {"version": 1, "output": output, "jobs": [{"images": images, "mask": mask}]}
    path = root / "batch.yaml"
    path.write_text(yaml.safe_dump(body) + f"settings: {tiny_settings(2)}\n")
    return path


def contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".unmark" not in p.parts}


def test_an_output_folder_holding_the_masks_is_refused(tmp_path: Path) -> None:  # item 1
    folder(tmp_path, 2)
    path = batch(tmp_path, "masks", "photos/*.png", "masks/{stem}.png")
    before = contents(tmp_path)
    for command in ("validate", "run", "status"):
        run = unmark(command, path, *(FAST if command == "run" else ()))
        assert run.exit_code == 2, run.stderr
        assert "would overwrite the input mask" in run.stderr or "refusing to overwrite the " \
            "input mask" in run.stderr, run.stderr
    assert contents(tmp_path) == before


def test_symlink_loops_do_not_hang_or_multiply_jobs(tmp_path: Path) -> None:  # item 2
    folder(tmp_path, 2)
    os.symlink("..", tmp_path / "photos" / "up")
    os.symlink("..", tmp_path / "photos" / "up2")
    (tmp_path / "photos" / "sub").mkdir()
    os.symlink("../p0.png", tmp_path / "photos" / "sub" / "again.png")  # the same file twice
    path = batch(tmp_path, "out", "photos/**/*.png", "masks/p0.png")
    started = time.monotonic()
    jobs = load_manifest(path).jobs
    assert time.monotonic() - started < 10
    assert sorted(item.key for item in jobs) == ["p0.png", "p1.png"]
    run = unmark("validate", path)
    assert run.exit_code == 0, run.stderr


def test_a_symlinked_subfolder_of_the_output_is_refused(tmp_path: Path) -> None:  # item 12
    photo(tmp_path / "photos/sub/a.png")
    photo(tmp_path / "masks/a.png")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "sub")
    path = batch(tmp_path, "out", "photos/**/*.png", "masks/{stem}.png")
    run = unmark("validate", path)
    assert run.exit_code == 2 and "leads out of it" in run.stderr, run.stderr
    assert not list((tmp_path / "elsewhere").iterdir())


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:  # item 7
    path = standard(tmp_path, count=1)
    (tmp_path / "out").write_text("mine")
    run = unmark("run", path, *FAST)
    assert run.exit_code == 2 and "is a file, not a folder" in run.stderr, run.stderr
    assert (tmp_path / "out").read_text() == "mine"


def test_an_unwritable_output_folder_is_refused_before_fitting(tmp_path, monkeypatch):  # 7
    path = standard(tmp_path, count=1)

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("pipeline.io.paths.tempfile.mkstemp", refused)
    run = unmark("run", path, *FAST)
    assert run.exit_code == 2, run.stderr
    assert "cannot write here (read-only file system)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def _done_batch(tmp_path: Path) -> tuple[Path, Path]:
    path = standard(tmp_path, count=2, steps=2)
    assert unmark("run", path, *FAST).exit_code == 0
    return path, tmp_path / "out" / ".unmark" / "ledger.sqlite"


def test_a_zero_byte_ledger_is_refused_and_no_output_is_redone(tmp_path: Path) -> None:  # 6
    path, book = _done_batch(tmp_path)
    book.write_bytes(b"")
    for name in ("ledger.sqlite-wal", "ledger.sqlite-shm"):
        (book.parent / name).unlink(missing_ok=True)
    before = contents(tmp_path)
    for command in ("run", "status"):
        run = unmark(command, path, *(FAST if command == "run" else ()))
        assert run.exit_code == 2, run.stderr
        assert "the ledger is damaged (it is empty (0 bytes))" in run.stderr
        assert "Move it aside" in run.stderr and "Traceback" not in run.stderr
    assert contents(tmp_path) == before and book.read_bytes() == b""


def test_a_corrupt_ledger_page_is_refused(tmp_path: Path) -> None:  # item 6
    path, book = _done_batch(tmp_path)
    with sqlite3.connect(book) as db:  # fold the WAL in, so the pages are in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
    data = bytearray(book.read_bytes())
    page = 4096
    data[page + 8 : 2 * page] = b"\xa5" * (page - 8)  # the second page: garbage
    book.write_bytes(bytes(data))
    before = contents(tmp_path)
    for command in ("status", "run", "run"):
        run = unmark(command, path, *(FAST if command == "run" else ()))
        assert run.exit_code == 2, run.stderr
        assert "the ledger is damaged" in run.stderr and "run again" not in run.stderr
    assert contents(tmp_path) == before


def test_status_reads_a_ledger_it_may_not_write(tmp_path: Path, monkeypatch) -> None:  # 6
    path, _ = _done_batch(tmp_path)
    real = ledger.Ledger._connect_readonly

    def no_wal_index(self: ledger.Ledger, how: str) -> sqlite3.Connection:
        if how == "mode=ro":  # what a read-only folder does to a WAL database
            raise sqlite3.OperationalError("unable to open database file")
        return real(self, how)

    monkeypatch.setattr(ledger.Ledger, "_connect_readonly", no_wal_index)
    run = unmark("status", path)
    assert run.exit_code == 0, run.stderr
    assert "done" in run.stdout + run.stderr


def test_a_ledger_locked_by_a_writer_is_waited_for_then_named_busy_not_damaged(
    tmp_path: Path, monkeypatch
) -> None:  # item 6: a busy ledger is not a damaged one
    _, file = _done_batch(tmp_path)
    with ledger.Ledger(file, readonly=True) as book:
        before = book.records()
    writer = sqlite3.connect(file, isolation_level=None)
    writer.execute("PRAGMA journal_mode=DELETE")  # so that a write lock also stops readers
    writer.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(ledger, "BUSY_SECONDS", 0.2)
    try:
        with pytest.raises(InputError, match="stayed locked by another process") as refused:
            ledger.Ledger(file)
        assert "damaged" not in str(refused.value)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    with ledger.Ledger(file, readonly=True) as reopened:  # once free, it reads as before
        assert reopened.records() == before and len(before) == 2


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_devices_mps_without_mps_is_refused_up_front() -> None:  # item 12
    with pytest.raises(InputError, match="MPS is not available"):
        worker_devices(BatchOptions(devices="mps"))


def test_disk_full_while_checkpointing_is_one_line(tmp_path: Path, monkeypatch) -> None:  # 12
    def full(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr("pipeline.io.checkpoints.torch.save", full)
    monkeypatch.setattr("pipeline.io.checkpoints.shutil.disk_usage",
                        lambda _: type("Usage", (), {"free": 0})())
    store = RegionCheckpoint(tmp_path / "c" / "region0.pt")
    with pytest.raises(StorageError, match=r"region0.pt: disk full while writing the checkpoint"):
        store.save_result(torch.zeros(2).numpy())
    assert not list((tmp_path / "c").iterdir())


def test_out_of_memory_in_a_worker_fails_its_job_in_one_line(tmp_path, monkeypatch) -> None:
    item = load_manifest(standard(tmp_path, count=1)).jobs[0]  # item 5

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("pipeline.batch.worker.run_job", exhausted)
    outcome = run_task(Task(item.key, item.job, item.settings, item.runtime, tmp_path / "c",
                            ("cpu",), tmp_path / "claims"))
    assert outcome.error.endswith("out of memory (the photo and its fit do not fit in this "
                                  "worker's memory; try fewer --workers)")
    assert outcome.trace is None
