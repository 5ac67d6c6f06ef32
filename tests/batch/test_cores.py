"""The cores a process may use: its affinity, narrowed by a cgroup quota."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.batch.cores import available_cores, default_threads


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


def test_default_threads_leave_what_others_keep_busy(tmp_path, monkeypatch):
    unlimited = _cgroup(tmp_path / "none", "max 100000\n")
    cores = available_cores(unlimited)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert default_threads(1, unlimited) == cores  # an idle machine: every core
    assert default_threads(cores * 2, unlimited) == 1  # more workers than cores: one each
    monkeypatch.setattr(os, "getloadavg", lambda: (cores * 3.5, 0.0, 0.0))
    assert default_threads(1, unlimited) == 1  # a machine already over-busy: one thread
