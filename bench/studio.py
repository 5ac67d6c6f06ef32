"""`unmark studio`'s start: seconds from launching the command to its first answer (the photo
list of a folder of two samples), and the CPU time that took, median of five starts."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTS = 5


def one_start(folder: Path) -> tuple[float, float]:
    """(wall seconds to the first answer, CPU seconds the process used by then)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "studio", str(folder), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    address = process.stdout.readline().split()[2]
    while True:
        try:
            with urllib.request.urlopen(address + "api/images", timeout=10) as answer:
                answer.read()
            break
        except OSError:
            time.sleep(0.01)
    wall = time.monotonic() - began
    with open(f"/proc/{process.pid}/stat") as stat:  # utime + stime, in clock ticks
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    process.terminate()
    process.wait(10)
    process.stdout.close()
    return wall, cpu


def section() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in ("coffee", "rocket"):
            shutil.copy(ROOT / "samples" / "photos" / f"{name}.jpg", folder)
        starts = [one_start(folder) for _ in range(STARTS)]
    wall = statistics.median(start[0] for start in starts)
    cpu = statistics.median(start[1] for start in starts)
    return "\n".join([
        "#### unmark studio: start to first answer (median of 5)",
        "",
        "| seconds to first answer | CPU seconds | cores |",
        "|---|---|---|",
        f"| {wall:.2f} | {cpu:.2f} | {os.cpu_count()} |",
    ])


if __name__ == "__main__":
    print(section())
