"""What a job did, as the ledger keeps it and status and the report show it: true steps (0 when
the template's inverse did everything), seconds summed over every attempt."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from batchkit import manifest, standard, tiny_settings
from PIL import Image
from typer.testing import CliRunner

import cli
from pipeline.batch.facts import JobFacts
from pipeline.batch.ledger import Ledger, state_dir
from pipeline.batch.manifest import load_manifest
from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import Mark
from pipeline.io.marks import load_mark, save_mark

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def template_batch(root: Path) -> Path:
    """A lossless photo carrying the shipped logo, translucent: the closed-form inverse is
    exact, so no network runs (the batch's preset asks for 7 steps all the same)."""
    height, width = 80, 224
    logo = load_mark(SAMPLES / "marks" / "logo-tight.png")
    mark = Mark(alpha=logo.alpha * 0.5, colour=logo.colour)
    save_mark(mark, root / "in" / "logo.png")
    photo = Image.open(SAMPLES / "clean" / "coffee.png").convert("RGB").resize((width, height))
    clean = np.asarray(photo).transpose(2, 0, 1).astype(np.float32) / 255
    alpha, colour = np.zeros((1, height, width), np.float32), np.zeros((3, height, width))
    rows, cols = slice(22, 22 + mark.size[0]), slice(30, 30 + mark.size[1])
    alpha[:, rows, cols], colour[:, rows, cols] = mark.alpha, mark.colour
    marked = quantize(alpha * colour + (1 - alpha) * clean, np.uint8)
    Image.fromarray(marked).save(root / "in" / "photo.png")
    return manifest(root, f"""
        version: 1
        output: out
        settings: {tiny_settings(7)}
        jobs:
          - image: in/photo.png
            template: in/logo.png
    """)


def test_a_template_job_the_inverse_did_shows_zero_fitted_steps(tmp_path):
    path = template_batch(tmp_path)
    ran = unmark("run", path, "--devices", "cpu", "--threads", "1")
    assert ran.exit_code == 0, ran.output
    job = json.loads(unmark("status", path, "--json").stdout)["jobs"][0]
    assert job["facts"]["steps"] == 0 and job["facts"]["fitted"] == 0
    assert job["facts"]["placement"]["left"] == 30 and job["facts"]["placement"]["top"] == 22
    page = (state_dir(tmp_path / "out") / "report.html").read_text()
    assert "0 fitted steps" in page and "7 fitted steps" not in page
    assert "mark at x=30, y=22" in page  # Placement.describe, not a hand-made line


def test_a_mask_job_shows_the_steps_it_ran(tmp_path):
    path = standard(tmp_path, count=1, steps=6)
    assert unmark("run", path, "--devices", "cpu", "--threads", "1").exit_code == 0
    job = json.loads(unmark("status", path, "--json").stdout)["jobs"][0]
    assert job["facts"]["steps"] == 6 and job["facts"]["route"].startswith("mask")


def test_a_resumed_job_shows_the_time_of_every_attempt(tmp_path):
    batch = load_manifest(standard(tmp_path, count=1))
    item, path = batch.jobs[0], tmp_path / "ledger.sqlite"
    with Ledger(path) as book:
        book.start(item, "in", "set")
    with sqlite3.connect(path) as db:  # the first attempt began 100 s ago, then was stopped
        db.execute("UPDATE jobs SET started = started - 100")
    with Ledger(path) as book:
        book.interrupt("interrupted (Ctrl-C)")
        book.start(item, "in", "set")
        book.finish(item.key, "done", facts=JobFacts("mask", 6, 2.0, "cpu", resumed_from=4))
        facts = book.records()[item.key].facts
    assert 101.9 < facts.seconds < 103 and facts.resumed_from == 4
    with Ledger(path) as book:  # redone from scratch (new inputs): the clock starts again
        book.start(item, "other", "set")
        book.finish(item.key, "done", facts=JobFacts("mask", 6, 2.0, "cpu"))
        assert book.records()[item.key].facts.seconds == 2.0
