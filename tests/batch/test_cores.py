"""The cores a process may use: its affinity, narrowed by a cgroup quota."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.batch.cores import available_cores


def _cgroup(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max)
    return root


def test_a_cgroup_quota_narrows_the_affinity(tmp_path):
    mine = len(os.sched_getaffinity(0))
    assert available_cores(_cgroup(tmp_path / "none", "max 100000\n")) == mine
    assert available_cores(_cgroup(tmp_path / "one", "100000 100000\n")) == 1
    assert available_cores(_cgroup(tmp_path / "half", "50000 100000\n")) == 1  # at least one
    assert available_cores(_cgroup(tmp_path / "many", "6400000 100000\n")) == mine
    assert available_cores(tmp_path / "absent") == mine


def test_a_cgroup_v1_quota_counts_too(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cores(tmp_path) == 1
