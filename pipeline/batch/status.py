"""Where every job of a batch stands, read-only: safe while a run holds the folder, and light
(no maths, no workers are loaded, so `status` answers at once)."""

from __future__ import annotations

from pipeline.batch import auto_template, ledger
from pipeline.batch.hashing import Hasher
from pipeline.batch.manifest import Manifest
from pipeline.batch.plan import judge
from pipeline.batch.report import JobStatus, doubts_of
from pipeline.batch.states import JobState


def batch_status(manifest: Manifest) -> list[JobStatus]:
    """Where every job of the manifest stands; read-only, safe while a run holds the folder."""
    records = ledger.read_all(manifest.output)
    folder = ledger.state_dir(manifest.output)
    readers = [ledger.Ledger(path, readonly=True) for path in sorted(folder.glob("ledger*.sqlite"))]
    try:
        hasher = Hasher(readers)
        statuses = []
        jobs, _ = auto_template.resolve(manifest, manifest.jobs, estimate=False)
        for item in jobs:
            record, running = records.get(item.key, (None, False))
            verdict = judge(item, record, hasher, running)
            current = record is not None and verdict.state in (JobState.DONE, JobState.FAILED)
            facts = record.facts if current else None
            statuses.append(JobStatus(
                item, verdict.state, verdict.reason,
                record.attempts if record else 0, record.warnings if record else (), facts,
                doubts_of(verdict.reason if verdict.state == JobState.FAILED else None,
                          facts) if current else (),
            ))
        return statuses
    finally:
        for reader in readers:
            reader.close()
