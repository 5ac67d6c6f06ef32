"""What a batch tells its caller: a report per job, the run's summary, each job's status, and
the Display protocol a live board implements."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.batch.facts import JobFacts
from pipeline.batch.manifest import BatchJob
from pipeline.batch.review import doubts
from pipeline.batch.states import JobState


@dataclass(frozen=True)
class JobReport:
    key: str
    image: str
    output: str
    state: JobState  # done | failed | skipped (done before) | pending (interrupted)
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    resumed_from: int = 0
    device: str = ""
    earlier: bool = False  # the state is from an earlier run (not retried or redone now)
    doubts: tuple[str, ...] = ()  # why a person should look at it first (review.doubts)


@dataclass
class Summary:
    manifest: str
    output: str
    jobs: list[JobReport] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0

    def count(self, state: JobState) -> int:
        return sum(report.state == state for report in self.jobs)

    @property
    def doubtful(self) -> int:
        """Outputs a person should look at first (failures are counted apart)."""
        return sum(bool(report.doubts) and report.state in (JobState.DONE, JobState.SKIPPED)
                   for report in self.jobs)

    @property
    def ok(self) -> bool:
        return all(report.state in (JobState.DONE, JobState.SKIPPED) for report in self.jobs)

    def as_dict(self) -> dict:
        states = (JobState.DONE, JobState.SKIPPED, JobState.FAILED, JobState.PENDING)
        return {
            "manifest": self.manifest,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "counts": {state.value: self.count(state) for state in states},
            "doubtful": self.doubtful,
            "jobs": [dataclasses.asdict(report) for report in self.jobs],
        }


class Display(Protocol):
    def begin(self, todo: int, skipped: int, failed_before: int, workers: int) -> None: ...
    def started(self, worker: int, key: str, device: str) -> None: ...
    def step(self, worker: int, key: str, step: int, total: int, loss: float) -> None: ...
    def finished(self, report: JobReport) -> None: ...


class Quiet:
    """A Display that shows nothing (library use, tests)."""

    def begin(self, todo: int, skipped: int, failed_before: int, workers: int) -> None: ...
    def started(self, worker: int, key: str, device: str) -> None: ...
    def step(self, worker: int, key: str, step: int, total: int, loss: float) -> None: ...
    def finished(self, report: JobReport) -> None: ...


@dataclass(frozen=True)
class JobStatus:
    item: BatchJob
    state: JobState  # done | failed | pending | running
    reason: str | None
    attempts: int
    warnings: tuple[str, ...]
    facts: JobFacts | None = None  # what the job did, when its record is current
    doubts: tuple[str, ...] = ()  # why a person should look at it first


def doubts_of(failed: str | None, facts: JobFacts | None) -> tuple[str, ...]:
    """A job's doubts from what the ledger keeps of it."""
    if facts is None:
        return doubts(failed, None, None)
    return doubts(failed, facts.confidence, facts.look.residual if facts.look else None)


def report(
    item: BatchJob, state: JobState, reason: str | None = None, **extra: object
) -> JobReport:
    return JobReport(item.key, str(item.job.image), str(item.job.output), state, reason, **extra)
