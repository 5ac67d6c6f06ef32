"""Which jobs a run does: its shard of the manifest, and for each job the redo policy's verdict
against what the ledgers remember (done and current: skip; failed: only with --retry-failed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch import ledger
from pipeline.batch.hashing import Hasher
from pipeline.batch.ledger import Record
from pipeline.batch.manifest import BatchJob, Manifest
from pipeline.batch.report import Summary, doubts_of, report
from pipeline.batch.review import doubts
from pipeline.batch.states import JobState
from pipeline.errors import InputError
from pipeline.io.checkpoint_folders import folder_for
from pipeline.io.paths import intact, is_video
from pipeline.io.video import intact as video_intact


@dataclass(frozen=True)
class Shard:
    """`--shard I/N`: the I-th of N interleaved slices of the jobs, sorted by output path, so
    every array task of a cluster job agrees on who does what."""

    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not found:
            raise InputError(f"--shard {text}: expected I/N, e.g. 2/8")
        index, count = int(found[1]), int(found[2])
        if not 1 <= index <= count:
            raise InputError(f"--shard {text}: I runs from 1 to N")
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def pick(self, jobs: tuple[BatchJob, ...]) -> tuple[BatchJob, ...]:
        return tuple(sorted(jobs, key=lambda item: item.key)[self.index - 1 :: self.count])


@dataclass(frozen=True)
class Verdict:
    """Where one job stands against what the ledgers remember."""

    state: JobState
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
        return Verdict(JobState.FAILED, str(problem), None, settings_hash, record)
    if record is None:
        return Verdict(JobState.PENDING, None, input_hash, settings_hash, None)
    if record.state == JobState.RUNNING:
        if running:
            return Verdict(JobState.RUNNING, None, input_hash, settings_hash, record)
        return Verdict(JobState.PENDING, "interrupted; resumes from its last checkpoint",
                       input_hash, settings_hash, record)
    if record.input_hash != input_hash:
        return Verdict(JobState.PENDING, f"inputs changed since it was {record.state}", input_hash,
                       settings_hash, record)
    if record.settings_hash != settings_hash:
        return Verdict(JobState.PENDING, f"settings changed since it was {record.state}",
                       input_hash, settings_hash, record)
    if record.state == JobState.DONE and not item.job.output.is_file():
        return Verdict(JobState.PENDING, "output missing", input_hash, settings_hash, record)
    output_intact = video_intact if is_video(item.job.output) else intact
    if record.state == JobState.DONE and not output_intact(item.job.output):
        return Verdict(JobState.PENDING, "output damaged (it does not decode)", input_hash,
                       settings_hash, record)
    return Verdict(record.state, record.reason, input_hash, settings_hash, record)


@dataclass(frozen=True)
class Planned:
    item: BatchJob
    verdict: Verdict
    checkpoints: Path


def failed(reason: str | None) -> tuple[str, ...]:
    return doubts(reason or "failed", None, None)


def triage(
    jobs: tuple[BatchJob, ...], book: ledger.Ledger, manifest: Manifest, retry_failed: bool,
    device: str, summary: Summary, no_template: dict[str, str],
) -> list[Planned]:
    """Which jobs to run; the others go straight into the summary. `no_template`: the jobs whose
    `template: auto` mark could not be estimated, and why."""
    others = ledger.read_all(manifest.output, skip=book.path.name)
    mine = book.records()
    hasher = Hasher([book])
    root = ledger.state_dir(manifest.output) / "checkpoints"
    todo = []
    for item in jobs:
        record = mine.get(item.key)
        other = others.get(item.key)
        if other is not None and (record is None or other[0].updated > record.updated):
            record = other[0]
        verdict = judge(item, record, hasher, running=False)
        if item.key in no_template:  # recorded under its images' hash, so status shows why
            reason = no_template[item.key]
            book.refuse(item, verdict.input_hash or "", verdict.settings_hash, reason)
            summary.jobs.append(report(item, JobState.FAILED, reason, doubts=failed(reason)))
        elif verdict.input_hash is None:  # unreadable inputs fail without a worker
            book.refuse(item, "", verdict.settings_hash, verdict.reason)
            summary.jobs.append(report(item, JobState.FAILED, verdict.reason,
                                       doubts=failed(verdict.reason)))
        elif verdict.state == JobState.DONE:
            summary.jobs.append(report(item, JobState.SKIPPED, "done before", earlier=True,
                                       doubts=doubts_of(None, record.facts)))
        elif verdict.state == JobState.FAILED and not retry_failed:
            summary.jobs.append(report(item, JobState.FAILED, verdict.reason, earlier=True,
                                       doubts=failed(verdict.reason)))
        else:
            folder = folder_for(
                root, item.key, verdict.input_hash, verdict.settings_hash, device
            )
            todo.append(Planned(item, verdict, folder))
    return todo
