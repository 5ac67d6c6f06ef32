from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from batchkit import HOLE, manifest, mask, photo, standard, tiny_settings
from PIL import Image

from pipeline.batch import ledger, locks
from pipeline.batch.coordinator import (
    BatchOptions,
    Interrupted,
    run_batch,
    worker_devices,
)
from pipeline.batch.manifest import load_manifest
from pipeline.batch.plan import Shard
from pipeline.batch.status import batch_status
from pipeline.errors import InputError
from pipeline.io.checkpoints import CheckpointFolder, folder_for

ROOT = Path(__file__).resolve().parents[2]


def options(**overrides: object) -> BatchOptions:
    """One torch thread per worker: fast on a busy machine, and outputs comparable bit for bit."""
    return BatchOptions(**{"devices": "cpu", "threads": 1, **overrides})


def states(summary) -> dict[str, str]:
    return {report.key: report.state for report in summary.jobs}


def done_events(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in ledger.state_dir(output).glob("ledger*.sqlite"):
        with ledger.Ledger(path, readonly=True) as book:
            for event in book.events():
                counts[event.key] = counts.get(event.key, 0) + (event.state == "done")
    return counts


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_batch_cleans_every_image_and_fails_only_the_bad_ones(tmp_path: Path) -> None:
    path = standard(tmp_path, count=3)
    (tmp_path / "photos/p7.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    mask(tmp_path / "masks/p7.png")
    photo(tmp_path / "photos/p8.png")
    mask(tmp_path / "masks/p8.png", size=(32, 96))  # another aspect ratio
    photo(tmp_path / "photos/p9.png")  # no mask
    batch = load_manifest(path)

    summary = run_batch(batch, options())

    assert states(summary) == {"p0.png": "done", "p1.png": "done", "p2.png": "done",
                               "p7.png": "failed", "p8.png": "failed", "p9.png": "failed"}
    assert not summary.ok
    reasons = {r.key: r.reason for r in summary.jobs}
    assert "corrupt" in reasons["p7.png"]
    assert "aspect ratio" in reasons["p8.png"]
    assert "no such file" in reasons["p9.png"]
    for index in range(3):
        before, after = pixels(tmp_path / f"photos/p{index}.png"), pixels(
            tmp_path / f"out/p{index}.png")
        outside = np.ones(before.shape[:2], bool)
        outside[HOLE] = False
        assert np.array_equal(before[outside], after[outside])
        assert not np.array_equal(before[HOLE], after[HOLE])
    records = ledger.read_all(batch.output)
    assert records["p7.png"][0].state == "failed" and "corrupt" in records["p7.png"][0].reason
    assert not list((tmp_path / "out").glob(".*partial*"))
    assert not list((ledger.state_dir(batch.output) / "checkpoints").glob("*/*.pt"))


def test_rerun_skips_done_redoes_changed_and_retries_failed_on_request(tmp_path: Path) -> None:
    path = standard(tmp_path, count=3)
    (tmp_path / "photos/bad.png").write_bytes(b"nope")
    mask(tmp_path / "masks/bad.png")
    run_batch(load_manifest(path), options())

    photo(tmp_path / "photos/p1.png", seed=42)  # new content
    again = run_batch(load_manifest(path), options())
    assert states(again) == {"p0.png": "skipped", "p1.png": "done", "p2.png": "skipped",
                             "bad.png": "failed"}
    assert [r.earlier for r in again.jobs if r.key == "bad.png"] == [True]

    retried = run_batch(load_manifest(path), options(retry_failed=True))
    assert states(retried)["bad.png"] == "failed"
    assert ledger.read_all(tmp_path / "out")["bad.png"][0].attempts == 2

    path.write_text(path.read_text().replace("steps: 10", "steps: 6"))
    changed = run_batch(load_manifest(path), options())
    assert [r.state for r in changed.jobs if r.key.startswith("p")] == ["done"] * 3
    assert done_events(tmp_path / "out") == {"p0.png": 2, "p1.png": 3, "p2.png": 2, "bad.png": 0}

    (tmp_path / "out/p2.png").unlink()
    assert states(run_batch(load_manifest(path), options()))["p2.png"] == "done"


def test_a_rerun_sweeps_what_a_kill_can_leave_behind(tmp_path: Path) -> None:
    batch = load_manifest(standard(tmp_path, count=2, steps=3))
    run_batch(batch, options())
    root = ledger.state_dir(batch.output) / "checkpoints"
    done_leftover = folder_for(root, "p0.png", "old", "old", "cpu")  # killed after `done`
    (done_leftover / "region0.pt").parent.mkdir(parents=True)
    (done_leftover / "region0.pt").write_bytes(b"x")
    partial = tmp_path / "out/.p1.k2j3h4.partial.png"  # killed inside save_picture
    partial.write_bytes(b"half")
    unrelated = tmp_path / "out/.keep.txt"
    unrelated.write_text("mine")

    assert {r.state for r in run_batch(batch, options()).jobs} == {"skipped"}
    assert not done_leftover.exists() and not partial.exists() and unrelated.exists()


def test_status_reports_every_state(tmp_path: Path) -> None:
    path = standard(tmp_path, count=2)
    (tmp_path / "photos/bad.png").write_bytes(b"nope")
    mask(tmp_path / "masks/bad.png")
    batch = load_manifest(path)
    assert {s.state for s in batch_status(batch)} == {"pending"}
    run_batch(batch, options())
    by_key = {s.item.key: s for s in batch_status(batch)}
    assert (by_key["p0.png"].state, by_key["p0.png"].attempts) == ("done", 1)
    assert by_key["bad.png"].state == "failed" and "not an image" in by_key["bad.png"].reason
    photo(tmp_path / "photos/p1.png", seed=5)
    by_key = {s.item.key: s for s in batch_status(batch)}
    assert (by_key["p1.png"].state, by_key["p1.png"].reason) == (
        "pending", "inputs changed since it was done")


def test_warnings_are_kept_with_their_job(tmp_path: Path) -> None:
    photo(tmp_path / "a.png")
    mask(tmp_path / "half.png", size=(16, 24))
    batch = load_manifest(manifest(tmp_path, f"""
        version: 1
        output: out
        settings: {tiny_settings(5)}
        jobs: [{{image: a.png, mask: half.png}}]
    """))
    report = run_batch(batch, options()).jobs[0]
    assert report.state == "done" and "resized" in report.warnings[0]
    assert "resized" in ledger.read_all(batch.output)["a.png"][0].warnings[0]


def test_shards_cover_every_job_exactly_once(tmp_path: Path) -> None:
    path = standard(tmp_path, count=5, steps=3)
    batch = load_manifest(path)
    for count in range(1, 7):
        picked = [item.key for i in range(count) for item in Shard(i + 1, count).pick(batch.jobs)]
        assert sorted(picked) == sorted(item.key for item in batch.jobs)
    assert Shard.parse(" 2/3 ") == Shard(2, 3)
    for bad in ("0/3", "4/3", "1-3"):
        with pytest.raises(InputError):
            Shard.parse(bad)

    for index in (1, 2):
        run_batch(batch, options(shard=Shard(index, 2)))
    assert done_events(batch.output) == {item.key: 1 for item in batch.jobs}
    assert len(list(ledger.state_dir(batch.output).glob("ledger*.sqlite"))) == 2
    assert {s.state for s in batch_status(batch)} == {"done"}
    assert {r.state for r in run_batch(batch, options()).jobs} == {"skipped"}


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    batch = load_manifest(standard(tmp_path, count=1))
    with locks.hold_lock(batch.output, None):
        with pytest.raises(locks.Busy, match="another `unmark run`"):
            run_batch(batch, options())


def test_ctrl_c_stops_cleanly_and_the_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    path = standard(tmp_path, count=1, steps=3000, every_step=True)
    batch = load_manifest(path)
    checkpoints = ledger.state_dir(batch.output) / "checkpoints"

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 60
        while not list(checkpoints.glob("*/region0.pt")) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(Interrupted) as stopped:
        run_batch(batch, options(checkpoint_every=10))
    assert states(stopped.value.summary) == {"p0.png": "pending"}
    assert ledger.read_all(batch.output)["p0.png"][0].state == "pending"
    [folder] = checkpoints.iterdir()
    saved = CheckpointFolder(folder).saved_step()
    assert 10 <= saved < 3000

    report = run_batch(batch, options(checkpoint_every=10)).jobs[0]
    assert (report.state, report.resumed_from) == ("done", saved)
    with ledger.Ledger(ledger.state_dir(batch.output) / "ledger.sqlite", readonly=True) as book:
        done = [e for e in book.events("p0.png") if e.state == "done"]
    assert len(done) == 1 and done[0].detail["first_step"] > saved
    assert not folder.exists()  # checkpoints go once the job is done

    # Network, optimiser, RNG and step all came back: the same bytes as a run never stopped.
    manifest(tmp_path, path.read_text().replace("output: out", "output: whole"), "whole.yaml")
    assert run_batch(load_manifest(tmp_path / "whole.yaml"), options()).ok
    assert (tmp_path / "out/p0.png").read_bytes() == (tmp_path / "whole/p0.png").read_bytes()


def test_worker_processes_give_the_same_bytes_as_one_worker(tmp_path: Path) -> None:
    path = standard(tmp_path, count=3, steps=8)
    manifest(tmp_path, path.read_text().replace("output: out", "output: out2"), "two.yaml")
    one = run_batch(load_manifest(path), options())
    two = run_batch(load_manifest(tmp_path / "two.yaml"), options(workers=2))
    assert one.ok and two.ok and two.workers == 2
    assert len({r.device for r in two.jobs}) == 1
    for index in range(3):
        assert (tmp_path / f"out/p{index}.png").read_bytes() == (
            tmp_path / f"out2/p{index}.png").read_bytes()


def test_dask_local_cluster_gives_the_same_outputs_as_a_local_run(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    path = standard(tmp_path, count=3, steps=8)
    manifest(tmp_path, path.read_text().replace("output: out", "output: dask"), "dask.yaml")
    local = run_batch(load_manifest(path), options())
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_batch(
            load_manifest(tmp_path / "dask.yaml"),
            options(backend="dask", scheduler=cluster.scheduler_address),
        )
    assert local.ok and remote.ok
    assert {r.device for r in remote.jobs} == {"auto"}
    for index in range(3):
        assert (tmp_path / f"out/p{index}.png").read_bytes() == (
            tmp_path / f"dask/p{index}.png").read_bytes()
    assert done_events(tmp_path / "dask") == {f"p{i}.png": 1 for i in range(3)}


def test_devices_are_checked_and_split_into_workers() -> None:
    assert worker_devices(BatchOptions(devices="cpu", workers=3)) == ("cpu",) * 3
    for bad, words in (("gpu", "not a device"), ("cpu,cuda:0", "not both"),
                       ("cuda:7", "there is no cuda:7")):
        with pytest.raises(InputError, match=words):
            worker_devices(BatchOptions(devices=bad))


def test_each_worker_process_keeps_one_device(tmp_path: Path) -> None:
    from pipeline.batch.worker import claim_device

    devices, claims = ("cuda:0", "cuda:1"), tmp_path / "claims"
    assert claim_device(devices, claims) == "cuda:0"
    assert claim_device(devices, claims) == "cuda:0"
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from pipeline.batch.worker import claim_device; "
         f"print(claim_device({devices!r}, Path({str(claims)!r})))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert other.stdout.strip() == "cuda:1"
