"""`unmark remove` as a user runs it: a subprocess, real files, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SAMPLES, box_mask, sample_photo
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from cli import app
from pipeline.io.marks import load_mark

CLI = Path(__file__).resolve().parent.parent / "cli.py"


def unmark(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLI), *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_remove_writes_a_full_size_result(photo_and_mask, tmp_path):
    photo, mask = photo_and_mask
    out = tmp_path / "out" / "clean.png"
    snaps = tmp_path / "snaps"
    run = unmark("remove", photo, "--mask", mask, "-o", out, "--preset", "quality", "--steps", "8",
                 "--snapshots", snaps, "--snapshot-every", "4", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    before, after = np.asarray(Image.open(photo)), np.asarray(Image.open(out))
    assert after.shape == before.shape
    keep = np.asarray(Image.open(mask)) > 127
    np.testing.assert_array_equal(after[keep], before[keep])
    assert len(list(snaps.glob("*.png"))) == 2


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, photo_and_mask):
    photo, mask = photo_and_mask
    (tmp_path / "junk.jpg").write_bytes(b"\x00" * 64)
    box_mask((50, 50), (0, 0, 5, 5)).save(tmp_path / "square.png")
    Image.new("L", sample_photo().size, 0).save(tmp_path / "black.png")
    cases = {
        ("remove", tmp_path / "none.png", "--mask", mask): "none.png: no such file",
        ("remove", tmp_path / "junk.jpg", "--mask", mask): "junk.jpg: not an image",
        ("remove", photo, "--mask", tmp_path / "square.png"): "different aspect ratio",
        ("remove", photo, "--mask", tmp_path / "black.png"): "covers 100% of the image",
        ("remove", photo): "give exactly one of --mask or --template",
        ("remove", photo, "--mask", mask, "--preset", "best"): "unknown preset 'best'",
        ("remove", photo, "--mask", mask, "-o", photo): "refusing to overwrite the input",
        ("remove", photo, "--mask", mask, "-o", tmp_path / "x.gif"): "cannot write '.gif'",
        ("remove", photo, "--mask", mask, "--device", "gpu"): "unknown device 'gpu'",
    }
    runner = CliRunner()
    for args, message in cases.items():
        run = runner.invoke(app, [*map(str, args), "--steps", "1"])
        assert run.exit_code == 2, (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_inverted_looking_mask_warns_with_the_flag_name(tmp_path, photo_and_mask):
    photo, _ = photo_and_mask
    inverted = np.zeros((48, 64), np.uint8)
    inverted[10:20, 10:20] = 255
    Image.fromarray(inverted).save(tmp_path / "inv.png")
    run = unmark("remove", photo, "--mask", tmp_path / "inv.png", "--steps", "1",
                 "-o", tmp_path / "o.png", "--preset", "fast")
    assert run.returncode == 0, run.stderr
    assert "--invert-mask" in run.stderr
    run = unmark("remove", photo, "--mask", tmp_path / "inv.png", "--steps", "1", "--invert-mask",
                 "-o", tmp_path / "o.png", "--preset", "fast")
    assert run.returncode == 0 and "warning" not in run.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_is_one_line_and_exit_2(photo_and_mask):
    photo, mask = photo_and_mask
    run = CliRunner().invoke(app, ["remove", str(photo), "--mask", str(mask), "--device", "cuda:0"])
    assert run.exit_code == 2
    assert "device 'cuda:0': CUDA is not available on this machine" in run.stderr


def test_separate_routes_a_translucent_mark_and_saves_it(tmp_path):
    """`--separate` un-blends a translucent logo found in the mask, says so, and can save the
    estimated mark as a template; the default inpaints."""
    logo = load_mark(SAMPLES / "marks" / "logo-tight.png")  # its shape, in white at 0.45
    shape = np.zeros((80, 224), np.float32)
    top, left = (80 - logo.size[0]) // 2, (224 - logo.size[1]) // 2
    shape[top:top + logo.size[0], left:left + logo.size[1]] = logo.alpha / logo.alpha.max()
    photo = np.asarray(Image.open(SAMPLES / "clean" / "coffee.png").convert("RGB").resize(
        (224, 80)), np.float32)
    alpha = 0.45 * shape[..., None]
    marked = (alpha * 255 + (1 - alpha) * photo).round().astype(np.uint8)
    Image.fromarray(marked).save(tmp_path / "marked.png")
    footprint = Image.fromarray(((shape > 0.01) * 255).astype(np.uint8)).filter(
        ImageFilter.MaxFilter(7))
    Image.fromarray(255 - np.asarray(footprint)).save(tmp_path / "mask.png")
    fast = ["--preset", "fast", "--device", "cpu"]
    runner = CliRunner()
    run = runner.invoke(app, ["remove", str(tmp_path / "marked.png"), "--mask",
                              str(tmp_path / "mask.png"), "-o", str(tmp_path / "out.png"),
                              "--separate", "--save-mark", str(tmp_path / "mark.png"), *fast])
    assert run.exit_code == 0, run.output
    assert "separated, mark opacity" in run.output
    saved = Image.open(tmp_path / "mark.png")
    assert saved.mode == "RGBA" and saved.size[0] <= 224
    refused = runner.invoke(app, ["remove", str(tmp_path / "marked.png"), "--mask",
                                  str(tmp_path / "mask.png"), "-o", str(tmp_path / "o2.png"),
                                  "--save-mark", str(tmp_path / "m2.png"), *fast])
    assert refused.exit_code == 2 and "--save-mark needs --separate" in refused.output
