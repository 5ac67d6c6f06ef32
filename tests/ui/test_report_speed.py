"""A large batch's report: 200 ledger rows and tiny outputs, written directly (no fits)."""

from __future__ import annotations

import numpy as np
from batchkit import mask, photo, tiny_settings
from PIL import Image

from pipeline.batch.facts import JobFacts
from pipeline.batch.hashing import Hasher
from pipeline.batch.ledger import Ledger, state_dir
from pipeline.batch.manifest import load_manifest
from pipeline.batch.states import JobState
from pipeline.batch.status import batch_status
from pipeline.ui.report import write_report

JOBS = 200


def test_a_200_job_report_is_written_and_its_thumbnails_reused(tmp_path):
    mask(tmp_path / "mask.png")
    for index in range(JOBS):
        photo(tmp_path / "photos" / f"p{index:03d}.png", seed=index)
    (tmp_path / "batch.yaml").write_text(
        f"version: 1\noutput: out\nsettings: {tiny_settings(2)}\n"
        "jobs:\n  - images: photos/*.png\n    mask: mask.png\n"
    )
    manifest = load_manifest(tmp_path / "batch.yaml")
    with Ledger(state_dir(manifest.output) / "ledger.sqlite") as book:
        hasher = Hasher([book])
        for item in manifest.jobs:
            item.job.output.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.asarray(Image.open(item.job.image))
            Image.fromarray(pixels[::-1].copy()).save(item.job.output)  # changed everywhere
            book.start(item, hasher.job(item), item.settings.fingerprint())
            book.finish(item.key, JobState.DONE, facts=JobFacts("mask", 2, 1.0, "cpu"))
    written = write_report(manifest)  # thumbnails made now: the ledger has none
    thumbs = sorted(written.path.parent.glob("thumbs/*"))
    made = [thumb.stat().st_mtime_ns for thumb in thumbs]
    again = write_report(manifest)  # cached: no thumbnail is made again
    assert written.jobs == JOBS and written.doubtful == JOBS  # every output changed far away
    assert again.jobs == JOBS and thumbs
    assert [thumb.stat().st_mtime_ns for thumb in thumbs] == made
    statuses = batch_status(manifest)
    assert len(statuses) == JOBS
