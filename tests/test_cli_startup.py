"""Commands that fit nothing never load torch (the numeric stack costs seconds to import): each
runs in a fresh interpreter here, which then says whether torch was imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from batchkit import standard
from typer.testing import CliRunner

import cli

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import runpy, sys
sys.argv = ["cli.py", *sys.argv[1:]]
try:
    runpy.run_path("cli.py", run_name="__main__")
except SystemExit as stop:
    code = stop.code
print("torch loaded" if "torch" in sys.modules else "torch not loaded", file=sys.stderr)
"""


def loads_torch(*args: object) -> tuple[bool, str]:
    ran = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    return "torch loaded" in ran.stderr, ran.stderr


@pytest.fixture(scope="module")
def done_batch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("startup")
    path = standard(root, count=1, steps=2)
    run = CliRunner().invoke(cli.app, ["run", str(path), "--devices", "cpu", "--threads", "1"])
    assert run.exit_code == 0, run.output
    return path


@pytest.mark.parametrize("command", ["--help", "validate", "status", "status --json", "report",
                                     "scaffold", "remove-missing"])
def test_commands_that_fit_nothing_never_import_torch(done_batch, tmp_path, command):
    args = {
        "--help": ["--help"],
        "validate": ["validate", done_batch],
        "status": ["status", done_batch],
        "status --json": ["status", done_batch, "--json"],
        "report": ["report", done_batch],
        "scaffold": ["scaffold", done_batch.parent / "photos", "--masks",
                     done_batch.parent / "masks", "-o", tmp_path / "s.yaml"],
        "remove-missing": ["remove", tmp_path / "nothing.png", "-m", tmp_path / "no.png"],
    }[command]
    loaded, stderr = loads_torch(*args)
    assert not loaded, stderr
    if command == "remove-missing":
        assert "nothing.png: no such file" in stderr


def test_the_light_copy_of_min_images_matches_the_maths():
    from pipeline.batch import auto_template
    from pipeline.core.learn import estimate

    assert auto_template.MIN_IMAGES == estimate.MIN_IMAGES
