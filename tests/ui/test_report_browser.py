"""The report in a real browser: headless Chromium shows the first (doubtful) job's crops."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reportkit import batch

from pipeline.batch.coordinator import BatchOptions, run_batch
from pipeline.batch.manifest import load_manifest
from pipeline.ui.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1200, 1600)
# Where the first card's two crops sit: right of the facts column and the before/after pair.
CROPS = (slice(130, 250), slice(722, 1100))


def screenshot(page: Path, picture: Path) -> np.ndarray:
    subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         f"--user-data-dir={picture.parent / 'profile'}", f"--screenshot={picture}",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return np.asarray(Image.open(picture).convert("L"), np.float32)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                    "chromium; .ci/run installs it)")
def test_chromium_shows_the_first_jobs_crops(tmp_path):
    manifest = load_manifest(batch(tmp_path))
    run_batch(manifest, BatchOptions(devices="cpu", threads=1))
    page = write_report(manifest).path
    shown = screenshot(page, tmp_path / "shown.png")
    blank = page.with_name("blank.html")
    blank.write_text("<!doctype html><html><body></body></html>")
    empty = screenshot(blank, tmp_path / "blank.png")
    assert shown.shape == (WINDOW[1], WINDOW[0])
    assert shown[CROPS].std() > 3 * max(empty[CROPS].std(), 5.0)  # pictures, not a blank
