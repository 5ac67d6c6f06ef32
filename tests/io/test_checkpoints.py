"""Checkpoints that do not fit their job (a list, a result of another shape) are discarded with
a warning and the job starts over, instead of failing it on every run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from batchkit import standard

from pipeline.batch.manifest import load_manifest
from pipeline.batch.worker import Task, run_task


@pytest.mark.parametrize("saved", [
    [1, 2, 3],  # not a checkpoint at all
    {"result": torch.zeros(3, 2, 2), "numpy_keys": ["result"]},  # a region of another size
    {"step": 3, "numpy_keys": []},  # half a fit's state
])
def test_a_checkpoint_that_does_not_fit_is_discarded_and_the_job_done(tmp_path: Path, saved):
    item = load_manifest(standard(tmp_path, count=1, steps=4)).jobs[0]
    folder = tmp_path / "c"
    folder.mkdir()
    torch.save(saved, folder / "region0.pt")
    runtime = dataclasses.replace(item.runtime, checkpoint_every=2)
    task = Task(item.key, item.job, item.settings, runtime, folder, ("cpu",),
                tmp_path / "claims", threads=1)
    outcome = run_task(task)  # its warnings travel in the outcome, to the ledger
    assert outcome.error is None, outcome.error
    assert item.job.output.is_file()
    assert any("discarded" in note for note in outcome.warnings)
