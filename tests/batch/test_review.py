"""The residual check and the doubts it raises; the ledger column that keeps them."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from pipeline.batch.facts import JobFacts
from pipeline.batch.ledger import Ledger
from pipeline.batch.review import Residual, doubts, residual
from pipeline.errors import InputError


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth photo, the same photo with a bright translucent frame, and the frame's alpha."""
    y, x = np.mgrid[0:40, 0:64]
    clean = np.stack([x * 3, y * 5, (x + y) * 2], -1).astype(np.uint8)
    alpha = np.zeros((40, 64), np.float32)
    alpha[8:32, 14:50] = 0.6
    alpha[14:26, 20:44] = 0
    marked = (alpha[..., None] * 255 + (1 - alpha[..., None]) * clean).round().astype(np.uint8)
    return clean, marked, alpha


def test_a_clean_output_scores_near_zero_and_a_marked_one_high():
    clean, marked, alpha = scene()
    for from_template in (True, False):
        gone = residual(marked, clean, alpha, from_template)
        kept = residual(marked, marked, alpha, from_template)
        assert gone.ghost < 0.45 and kept.ghost > 0.8
        assert gone.changed_outside == 0 and kept.changed_outside == 0


def test_changes_far_from_the_mark_are_counted_beyond_codec_noise():
    clean, marked, alpha = scene()
    noisy = np.clip(clean.astype(int) + np.random.default_rng(0).integers(-6, 7, clean.shape),
                    0, 255).astype(np.uint8)  # JPEG-like noise: not a change
    assert residual(marked, noisy, alpha, True).changed_outside == 0
    flipped = clean[::-1].copy()
    assert residual(marked, flipped, alpha, True).changed_outside > 0.3


def test_doubts_name_the_reason():
    assert doubts("no such file", None, None) == ("failed: no such file",)
    assert doubts(None, 0.9, Residual(0.1, 0.9, 0.0)) == ()
    found = doubts(None, 0.3, Residual(0.9, 0.9, 0.2))
    assert [d.split()[0] for d in found] == ["low", "the", "20.0%"]


def test_an_old_ledger_stays_readable_and_gains_the_facts_column(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:  # a ledger of the version that kept info and review
        db.executescript("""CREATE TABLE jobs (key TEXT PRIMARY KEY, image TEXT NOT NULL,
            output TEXT NOT NULL, input_hash TEXT NOT NULL, settings_hash TEXT NOT NULL,
            state TEXT NOT NULL, reason TEXT, warnings TEXT NOT NULL DEFAULT '[]',
            info TEXT NOT NULL DEFAULT '{}', attempts INTEGER NOT NULL DEFAULT 0, started REAL,
            finished REAL, updated REAL NOT NULL, review TEXT NOT NULL DEFAULT '{}');""")
        db.execute("INSERT INTO jobs VALUES ('a.png', 'a.png', 'out/a.png', 'h', 's', 'done', "
                   "NULL, '[]', '{\"placement\": {}}', 1, 1.0, 2.0, 2.0, '{\"steps\": 25}')")
    with Ledger(path, readonly=True) as old:
        assert old.records()["a.png"].facts is None  # its old facts are not guessed at
    with Ledger(path) as book:
        book.finish("a.png", "done", facts=JobFacts("mask", 0, 1.5, "cpu"))
        assert book.records()["a.png"].facts == JobFacts("mask", 0, 1.5, "cpu")


def test_a_ledger_of_another_program_is_refused_as_damaged(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (name TEXT, done INTEGER)")
    for readonly in (True, False):
        with pytest.raises(InputError, match="another program or version.*mv "):
            Ledger(path, readonly=readonly)


def test_edited_facts_are_refused_as_damaged(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as book:
        book.finish("a.png", "done")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO jobs (key, image, output, input_hash, settings_hash, state, "
                   "warnings, updated, facts) VALUES ('b', 'b', 'b', 'h', 's', 'done', '[]', 1, "
                   "'[1, 2]')")
    with Ledger(path, readonly=True) as book, pytest.raises(InputError, match="damaged"):
        book.records()
