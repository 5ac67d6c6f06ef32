"""The batch commands as a user runs them, including `kill -9` and Ctrl-C on a real process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from batchkit import manifest, mask, photo, standard
from PIL import Image
from typer.testing import CliRunner

import cli
from pipeline.batch import ledger
from pipeline.batch.locks import STATE_DIR
from pipeline.io.checkpoints import CheckpointFolder

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--threads", "1", "--devices", "cpu"]


def unmark(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def start(*args: str, log: Path) -> subprocess.Popen:
    """`python cli.py ...` in its own process, as a user would run it."""
    with open(log, "w") as stream:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), *map(str, args)],
            stdout=stream, stderr=subprocess.STDOUT, cwd=log.parent,
        )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (rc {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def records(output: Path) -> dict:
    try:
        return {key: record for key, (record, _) in ledger.read_all(output).items()}
    except Exception:  # the run may be creating the ledger right now
        return {}


def test_validate_exit_codes(tmp_path: Path) -> None:
    path = standard(tmp_path, count=2)
    good = unmark("validate", path)
    assert good.exit_code == 0 and "every input exists and decodes" in good.stdout

    (tmp_path / "photos/p1.png").write_bytes(b"junk")
    bad_input = unmark("validate", path)
    assert bad_input.exit_code == 1
    assert "p1.png" in bad_input.stderr and "1 of 2 jobs would fail" in bad_input.stdout

    path.write_text(path.read_text().replace("mask:", "masque:"))
    bad_manifest = unmark("validate", path)
    assert bad_manifest.exit_code == 2
    assert bad_manifest.stderr.count("error:") == 1
    assert f"{path}:6: jobs[0].masque: unknown field" in bad_manifest.stderr
    assert "Traceback" not in bad_manifest.output


def test_run_status_and_json_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = standard(tmp_path, count=2)
    (tmp_path / "photos/bad.png").write_bytes(b"junk")
    mask(tmp_path / "masks/bad.png")

    ran = unmark("run", path, "--json", *FAST)
    assert ran.exit_code == 1  # some failed
    summary = json.loads(ran.stdout)
    assert summary["counts"] == {"done": 2, "skipped": 0, "failed": 1, "pending": 0}
    assert all(Path(job["output"]).is_file() for job in summary["jobs"] if job["state"] == "done")

    status = unmark("status", path)
    assert status.exit_code == 0
    assert "3 jobs: 2 done, 1 failed" in status.stdout and "not an image" in status.stdout
    assert "done  photos/p0.png  out/p0.png\n" in status.stdout
    as_json = json.loads(unmark("status", path, "--json").stdout)
    assert as_json["counts"]["done"] == 2

    (tmp_path / "photos/bad.png").unlink()
    (tmp_path / "masks/bad.png").unlink()
    rerun = unmark("run", path, *FAST)
    assert rerun.exit_code == 0, rerun.output
    assert "2 done before" in rerun.stderr

    assert unmark("run", path, "--shard", "3/2").exit_code == 2
    assert unmark("run", path, "--backend", "dask").exit_code == 2


def test_kill_9_then_run_again_finishes_every_job_once(tmp_path: Path) -> None:
    path = standard(tmp_path, count=3, steps=400)
    output = tmp_path / "out"
    checkpoints = ledger.state_dir(output) / "checkpoints"
    run = start("run", path, "--checkpoint-every", "10", *FAST, log=tmp_path / "first.log")
    wait_for(lambda: list(checkpoints.glob("*/region0.pt")) != [], run, "a first checkpoint")

    # While it runs: status reads the ledger, a second run is refused.
    status = unmark("status", path)
    assert status.exit_code == 0 and "running" in status.stdout, status.output
    second = unmark("run", path, *FAST)
    assert second.exit_code == 2 and f"{output}: another `unmark run`" in second.stderr

    def first_done_second_checkpointed() -> bool:
        states = {key: r.state for key, r in records(output).items()}
        running = [key for key, state in states.items() if state == "running"]
        return list(states.values()).count("done") == 1 and len(running) == 1 and list(
            checkpoints.glob(f"{Path(running[0]).stem}-*/region0.pt")) != []

    wait_for(first_done_second_checkpointed, run, "one job done and another checkpointed")
    run.send_signal(signal.SIGKILL)
    run.wait()
    [cut] = [key for key, r in records(output).items() if r.state == "running"]
    [folder] = checkpoints.glob(f"{Path(cut).stem}-*")
    saved = CheckpointFolder(folder).saved_step()
    assert saved >= 10

    resumed = unmark("run", path, "--json", "--checkpoint-every", "10", *FAST)
    assert resumed.exit_code == 0, resumed.output
    jobs = {job["key"]: job for job in json.loads(resumed.stdout)["jobs"]}
    assert sorted(job["state"] for job in jobs.values()) == ["done", "done", "skipped"]
    interrupted = [job for job in jobs.values() if job["resumed_from"]]
    assert [job["resumed_from"] for job in interrupted] == [saved]

    final = records(output)
    assert {r.state for r in final.values()} == {"done"}
    assert final[interrupted[0]["key"]].attempts == 2
    with ledger.Ledger(ledger.state_dir(output) / "ledger.sqlite", readonly=True) as book:
        done = [event.key for event in book.events() if event.state == "done"]
    assert sorted(done) == sorted(final)  # each job done exactly once
    for index in range(3):
        with Image.open(output / f"p{index}.png") as picture:
            picture.load()  # decodes to the last byte
    assert [p.name for p in output.glob(".*")] == [STATE_DIR]  # no partial files
    assert not list(checkpoints.iterdir())


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"loky" in cmdline:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_orphaned_workers_stop_when_the_coordinator_is_killed(tmp_path: Path) -> None:
    path = standard(tmp_path, count=2, steps=5000)
    output = tmp_path / "out"
    run = start("run", path, "--workers", "2", *FAST, log=tmp_path / "run.log")
    checkpoints = ledger.state_dir(output) / "checkpoints"
    wait_for(lambda: len(list(checkpoints.glob("*/region0.pt"))) == 2, run, "both workers busy")
    workers = _children(run.pid)  # both workers, and loky's resource tracker
    assert len(workers) >= 2
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # ours; do not leave them burning CPU if the check fails
        os.kill(pid, signal.SIGKILL)
    assert not left


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path: Path) -> None:
    path = standard(tmp_path, count=1, steps=2000, every_step=True)
    output = tmp_path / "out"
    log = tmp_path / "run.log"
    run = start("run", path, *FAST, log=log)
    wait_for(lambda: any(r.state == "running" for r in records(output).values()), run,
             "the job to start")
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    text = log.read_text()
    assert f"unmark run {path}" in text and "again to resume" in text
    assert "Traceback" not in text
    assert {r.state for r in records(output).values()} == {"pending"}


def test_scaffold_writes_a_manifest_that_runs(tmp_path: Path) -> None:
    for index in range(3):
        photo(tmp_path / f"shots/s{index}.jpg", seed=index)
    for index in range(2):
        mask(tmp_path / f"masks/s{index}.png")
    target = tmp_path / "manifests/shots.yaml"
    made = unmark("scaffold", tmp_path / "shots", "--masks", tmp_path / "masks", "-o", target)
    assert made.exit_code == 0, made.output
    assert "2 job(s)" in made.stderr and "s2.jpg: no mask found" in made.stderr
    assert unmark("scaffold", tmp_path / "shots", "--masks", tmp_path / "masks", "-o",
                  target).exit_code == 2  # exists
    assert unmark("validate", target).exit_code == 0


@pytest.mark.parametrize("flag", ["--mask", "--template"])
def test_scaffold_with_one_shared_file(tmp_path: Path, flag: str) -> None:
    for index in range(2):
        photo(tmp_path / f"shots/s{index}.png", seed=index)
    shared = mask(tmp_path / "shared.png")
    made = unmark("scaffold", tmp_path / "shots", flag, shared, "-o", tmp_path / "m.yaml")
    assert made.exit_code == 0, made.output
    assert "2 job(s)" in made.stderr


def test_the_demo_manifest_is_valid() -> None:
    from pipeline.batch.manifest import check_inputs, load_manifest
    from pipeline.batch.schema import ManifestError

    try:
        demo = load_manifest(ROOT / "manifests/demo.yaml")
    except ManifestError as problem:  # only acceptable while samples/ is still empty
        assert "matches no images" in str(problem)
        return
    assert demo.jobs and not [c for c in check_inputs(demo) if c.problem]


def test_template_manifest_entries_reach_the_job(tmp_path: Path) -> None:
    photo(tmp_path / "a.png")
    Image.new("RGBA", (48, 32)).save(tmp_path / "mark.png")
    path = manifest(tmp_path, """
        version: 1
        output: out
        jobs: [{image: a.png, template: mark.png}]
    """)
    assert unmark("validate", path).exit_code == 0


def test_sigterm_stops_like_ctrl_c_and_the_rerun_does_every_job_once(tmp_path: Path) -> None:
    path = standard(tmp_path, count=3, steps=300)
    output = tmp_path / "out"
    checkpoints = ledger.state_dir(output) / "checkpoints"
    log = tmp_path / "run.log"
    run = start("run", path, "--workers", "2", "--checkpoint-every", "10", *FAST, log=log)
    wait_for(lambda: len(list(checkpoints.glob("*/region0.pt"))) >= 2, run, "two jobs running")
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 143
    text = log.read_text()
    assert f"unmark run {path}" in text and "again to resume" in text, text
    for noise in ("Traceback", "semlock", "leaked", "resource_tracker"):
        assert noise not in text, text
    assert "running" not in {r.state for r in records(output).values()}

    again = unmark("run", path, "--checkpoint-every", "10", *FAST)
    assert again.exit_code == 0, again.output
    with ledger.Ledger(ledger.state_dir(output) / "ledger.sqlite", readonly=True) as book:
        done = [event.key for event in book.events() if event.state == "done"]
    assert sorted(done) == sorted(records(output)) and len(done) == 3  # each job done once


def test_a_killed_worker_is_one_line(tmp_path: Path) -> None:
    path = standard(tmp_path, count=2, steps=5000)
    output = tmp_path / "out"
    log = tmp_path / "run.log"
    run = start("run", path, "--workers", "2", "--checkpoint-every", "10", *FAST, log=log)
    checkpoints = ledger.state_dir(output) / "checkpoints"
    wait_for(lambda: len(list(checkpoints.glob("*/region0.pt"))) == 2, run, "both workers busy")
    workers = [pid for pid in _children(run.pid)
               if b"resource_tracker" not in (Path("/proc") / str(pid) / "cmdline").read_bytes()]
    os.kill(workers[0], signal.SIGKILL)
    try:
        assert run.wait(timeout=90) == 1
    finally:
        for pid in _children(run.pid):  # ours; never left burning CPU
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert errors == [next(line for line in errors if "a worker process was killed" in line)]
    assert "Traceback" not in text and "TerminatedWorkerError" not in text, text
