from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from batchkit import photo, standard

from pipeline.batch import hashing, ledger, locks, plan
from pipeline.batch.facts import JobFacts
from pipeline.batch.manifest import BatchJob, load_manifest
from pipeline.batch.states import JobState
from pipeline.errors import InputError
from pipeline.settings import RunOptions


@pytest.fixture
def batch(tmp_path: Path):
    return load_manifest(standard(tmp_path, count=2))


def test_records_and_events_round_trip(batch, tmp_path: Path) -> None:
    item = batch.jobs[0]
    with ledger.Ledger(tmp_path / "l.sqlite") as book:
        book.start(item, "in1", "set1")
        book.finish(item.key, JobState.FAILED, "boom", None, {"seconds": 2}, ["odd mask"], 2.0)
        book.start(item, "in1", "set1")
        book.finish(item.key, JobState.DONE, None, JobFacts("mask", 7, 1.5, "cpu"))
        record = book.records()[item.key]
        events = book.events(item.key)
    assert (record.state, record.attempts, record.reason) == ("done", 2, None)
    assert record.facts == JobFacts("mask", 7, 3.5, "cpu")  # seconds of both attempts
    assert record.output == str(item.job.output)
    assert [e.state for e in events] == ["running", "failed", "running", "done"]
    assert events[1].detail == {"reason": "boom", "seconds": 2}


def test_interrupt_returns_running_jobs_to_pending(batch, tmp_path: Path) -> None:
    with ledger.Ledger(tmp_path / "l.sqlite") as book:
        book.start(batch.jobs[0], "a", "b")
        book.start(batch.jobs[1], "a", "b")
        book.finish(batch.jobs[1].key, JobState.DONE)
        assert book.interrupt("stopped") == [batch.jobs[0].key]
        states = {key: r.state for key, r in book.records().items()}
    assert states == {batch.jobs[0].key: "pending", batch.jobs[1].key: "done"}


def verdict(item: BatchJob, record, running: bool = False) -> plan.Verdict:
    return plan.judge(item, record, hashing.Hasher([]), running)


def test_judge_skips_only_unchanged_work(batch, tmp_path: Path) -> None:
    item = batch.jobs[0]
    first = verdict(item, None)
    assert (first.state, first.reason) == ("pending", None)
    with ledger.Ledger(tmp_path / "l.sqlite") as book:
        book.start(item, first.input_hash, first.settings_hash)
        running = book.records()[item.key]
        book.finish(item.key, JobState.DONE)
        done = book.records()[item.key]
    assert verdict(item, running, running=True).state == "running"
    assert verdict(item, running).reason.startswith("interrupted")
    assert verdict(item, done).state == "pending"  # no output file yet
    item.job.output.parent.mkdir(parents=True)
    item.job.output.write_bytes(b"x")
    assert verdict(item, done).reason == "output damaged (it does not decode)"
    photo(item.job.output)
    assert verdict(item, done).state == "done"

    more_steps = dataclasses.replace(item, settings=item.settings.with_overrides(steps=11))
    assert verdict(more_steps, done).reason == "settings changed since it was done"
    on_gpu = dataclasses.replace(item, runtime=RunOptions(device="cuda"))
    assert verdict(on_gpu, done).state == "done"  # where it runs does not change the pixels

    inverted = dataclasses.replace(item, job=dataclasses.replace(item.job, invert_mask=True))
    assert verdict(inverted, done).reason == "inputs changed since it was done"
    item.job.image.write_bytes(item.job.image.read_bytes() + b"\0")
    assert verdict(item, done).reason == "inputs changed since it was done"
    item.job.mask.unlink()
    missing = verdict(item, done)
    assert (missing.state, missing.input_hash) == ("failed", None)
    assert "no such file" in missing.reason


def test_hashes_are_cached_by_size_and_mtime(batch, tmp_path: Path) -> None:
    image = batch.jobs[0].job.image
    with ledger.Ledger(tmp_path / "l.sqlite") as book:
        first = hashing.Hasher([book]).file(image)
        stat = image.stat()
        data = bytearray(image.read_bytes())
        data[-1] ^= 0xFF
        image.write_bytes(bytes(data))
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert hashing.Hasher([book]).file(image) == first  # not read again
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        assert hashing.Hasher([book]).file(image) != first


def test_lock_refuses_a_second_run_and_names_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with locks.hold_lock(out, None):
        refusal = f"{out}: another `unmark run`.*pid {os.getpid()}"
        for _ in range(2):  # a refused run leaves the holder's note alone
            with pytest.raises(locks.Busy, match=refusal):
                with locks.hold_lock(out, None):
                    pass
        with pytest.raises(locks.Busy):
            with locks.hold_lock(out, "shard-1-of-2"):
                pass
    with locks.hold_lock(out, None):  # released on exit
        pass


def test_shards_share_the_folder_but_not_with_themselves(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with locks.hold_lock(out, "shard-1-of-2"), locks.hold_lock(out, "shard-2-of-2"):
        with pytest.raises(locks.Busy):
            with locks.hold_lock(out, "shard-2-of-2"):
                pass
        with pytest.raises(locks.Busy):
            with locks.hold_lock(out, None):
                pass


def test_readers_merge_ledgers_while_a_run_writes(batch) -> None:
    folder = ledger.state_dir(batch.output)
    first, second = batch.jobs
    with locks.hold_lock(batch.output, None), ledger.Ledger(folder / "ledger.sqlite") as book:
        book.start(first, "a", "b")
        with ledger.Ledger(folder / ledger.ledger_name("shard-1-of-2")) as shard:
            shard.start(second, "a", "b")
            shard.finish(second.key, JobState.DONE)
        merged = ledger.read_all(batch.output)
        assert merged[first.key][0].state == "running" and merged[first.key][1]  # held
        assert merged[second.key][0].state == "done" and not merged[second.key][1]
        book.start(second, "a", "b")  # newer than the shard's record
        assert ledger.read_all(batch.output)[second.key][0].state == "running"
    assert not ledger.read_all(batch.output)[first.key][1]  # the run has let go


def test_a_damaged_ledger_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is not a database, not even close" * 100)
    with pytest.raises(InputError, match="the ledger is damaged .*Move it aside"):
        ledger.Ledger(path)
