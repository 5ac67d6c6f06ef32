"""Batch throughput for `make bench`: images per minute through the batch runner with 1 and 2 CPU
workers, and on a GPU, one job at a time against several jobs sharing it.

The folder is 20 small crops of the shipped sample photos (`--batch-images`), each with a
rectangular hole, so the numbers measure scheduling and fitting, not decoding large files.
bench/run.py registers them as the `throughput` and `gpu` sections; a tiny smoke run:
    python -m bench.run throughput --batch-images 2 --batch-steps 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.batch.coordinator import BatchOptions, run_batch
from pipeline.batch.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "photos"
CROP = (96, 128)  # height, width


def make_folder(root: Path, count: int, steps: int) -> Path:
    """`count` crops of the sample photos with masks, and a manifest over them; returns it."""
    sources = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(0)
    height, width = CROP
    hole = np.full(CROP, 255, np.uint8)
    hole[height // 3 : height // 2, width // 4 : width * 3 // 4] = 0
    (root / "photos").mkdir(parents=True)
    (root / "masks").mkdir()
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as source:
            picture = np.asarray(source.convert("RGB"))
        top = rng.integers(0, picture.shape[0] - height)
        left = rng.integers(0, picture.shape[1] - width)
        crop = picture[top : top + height, left : left + width]
        Image.fromarray(crop).save(root / "photos" / f"crop{index:03d}.png")
        Image.fromarray(hole).save(root / "masks" / f"crop{index:03d}.png")
    manifest = root / "batch.yaml"
    manifest.write_text(
        "version: 1\noutput: out\n"
        f"settings: {{preset: default, steps: {steps}}}\n"
        "jobs:\n  - images: photos/*.png\n    mask: masks/{stem}.png\n"
    )
    return manifest


def images_per_minute(count: int, steps: int, options: BatchOptions) -> tuple[float, float]:
    """(images per minute, seconds) for a fresh folder, so no job is skipped."""
    with tempfile.TemporaryDirectory() as folder:
        summary = run_batch(load_manifest(make_folder(Path(folder), count, steps)), options)
    if not summary.ok:
        failed = [r.reason for r in summary.jobs if r.state == "failed"]
        raise RuntimeError(f"the benchmark batch failed: {failed[:3]}")
    return count * 60 / summary.seconds, summary.seconds


def _table(rows: list[list[str]]) -> str:
    lines = ["| run | images | seconds | images / minute |", "|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def section_throughput(args: argparse.Namespace) -> str:
    count, steps = args.batch_images, args.batch_steps
    rows = []
    for workers in (1, 2):
        options = BatchOptions(workers=workers, devices="cpu")
        rate, seconds = images_per_minute(count, steps, options)
        rows.append([f"CPU, {workers} worker(s)", str(count), f"{seconds:.1f}", f"{rate:.1f}"])
        print(rows[-1], flush=True)
    return (
        f"### Batch throughput, {count} crops of {CROP[1]}x{CROP[0]} px, default preset, "
        f"{steps} steps\n\n" + _table(rows)
    )


def section_gpu_sharing(args: argparse.Namespace) -> str:
    if not torch.cuda.is_available():
        return "### Jobs sharing a GPU\n\nNo GPU on this machine; skipped."
    count, steps = args.batch_images, args.batch_steps
    rows = []
    for sharing in (1, 2, 4):
        options = BatchOptions(workers=sharing, devices="cuda:0")
        rate, seconds = images_per_minute(count, steps, options)
        rows.append([f"cuda:0, {sharing} job(s) at a time", str(count), f"{seconds:.1f}",
                     f"{rate:.1f}"])
        print(rows[-1], flush=True)
    return (
        f"### Jobs sharing one GPU ({torch.cuda.get_device_name(0)}), {count} crops, "
        f"{steps} steps\n\n" + _table(rows)
    )
