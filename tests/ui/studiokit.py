"""The studio's tests share: a folder of two shipped samples (and a file whose name is markup),
and a studio started the way a user starts it, `unmark studio FOLDER`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"
PHOTOS = ("coffee", "rocket")


def sample_folder(folder: Path, hostile: bool = True) -> Path:
    """Two marked samples (320 px wide), and a tiny photo whose file name is an HTML tag."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        (folder / f"{name}.jpg").write_bytes((SAMPLES / "photos" / f"{name}.jpg").read_bytes())
    if hostile:
        Image.new("RGB", (16, 12), (90, 120, 150)).save(folder / HOSTILE_NAME)
    return folder


def grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def rgb(path_or_bytes) -> np.ndarray:
    return np.asarray(Image.open(path_or_bytes).convert("RGB")).astype(np.float64)


class Started:
    """`unmark studio` in a child process: its address, how long it took to print it."""

    def __init__(self, folder: Path, *options: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "studio", str(folder), "--port", "0",
             *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        line = self.process.stdout.readline()
        self.seconds = time.monotonic() - began
        if "http://" not in line:
            self.process.kill()
            raise RuntimeError(f"the studio did not start: {line}{self.process.stdout.read()}")
        self.address = line.split()[2]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process.stdout.close()
