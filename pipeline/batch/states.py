"""Where a job stands: the one list of job states."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    PENDING = "pending"  # to do (never run, interrupted, or its inputs or settings changed)
    RUNNING = "running"  # a worker has it now
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # a run's report only: done before, not run again

    # Equal to its text ("done" == JobState.DONE), so it must hash like it too.
    def __hash__(self) -> int:
        return str.__hash__(self)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

