"""How many CPU cores this process may really use: its affinity mask, narrowed by a cgroup's
CPU quota (a container or a scheduler's job limits it there), and of those the share other
processes leave idle. Torch's default of one thread per core oversubscribes a busy machine:
`remove` ran 3-4x slower than with one thread, and 20x on 2 cores under a load of 7."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota(cgroup: Path) -> float | None:
    """Cores the cgroup quota allows (cgroup v2 cpu.max, else v1 cfs), None when unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(cgroup: Path = CGROUP) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _quota(cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def default_threads(workers: int = 1, cgroup: Path = CGROUP) -> int:
    """Torch threads for each of `workers` processes: the available cores others leave idle
    (by the load average, over the machine's cores), shared out; at least one."""
    cores = available_cores(cgroup)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    busy = min(1.0, load / (os.cpu_count() or cores))
    return max(1, round(cores * (1 - busy)) // max(1, workers))
