"""Speed against what it competes with, measured in the same run: template mode against the
closed-form inverse on a lossless tiled case, placement of a 96 px logo on a 2816x1536 photo; how
close one DIP step of the default net comes to the CPU's peak, and batched fits of 8 regions
against the same fits one by one. `python -m bench.speed` prints it."""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from bench.run import ROOT, table
from pipeline import devices
from pipeline.core.dip.batch_fit import StackedModel, fit_batch
from pipeline.core.dip.fit import FitInputs, Stepped, fit, set_up, step
from pipeline.core.dip.problem import Problem
from pipeline.core.fill.mask_fill import MaskFill
from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import Mark, closed_form, recover
from pipeline.core.mark.placement import Placement, locate, place
from pipeline.io.marks import load_mark
from pipeline.picture import Picture
from pipeline.settings import DEFAULT, DipSettings

SAMPLES = ROOT / "samples"
PEAK_GFLOPS = 157.0  # this CPU, 2 cores, AVX2 FMA (FACTS.md)


def _best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def _photo(size: tuple[int, int], name: str = "chelsea") -> np.ndarray:
    photo = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB")
    photo = photo.resize(size[::-1], Image.Resampling.BICUBIC)
    return np.asarray(photo, np.float32).transpose(2, 0, 1) / 255


def _tiled(size: tuple[int, int]) -> Mark:
    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    alpha = np.zeros(size, np.float32)
    colour = np.zeros((3, *size), np.float32)
    for top in range(6, size[0] - tight.size[0], 44):
        for left in range(top % 60, size[1] - tight.size[1], 190):
            rows, cols = slice(top, top + tight.size[0]), slice(left, left + tight.size[1])
            alpha[rows, cols], colour[:, rows, cols] = tight.alpha, tight.colour
    return Mark(alpha=alpha, colour=colour)


def template_row() -> list[str]:
    mark = _tiled((300, 300))
    blended = mark.alpha * mark.colour + (1 - mark.alpha) * _photo((300, 300))
    picture = Picture(pixels=quantize(blended, np.uint8), mode="RGB", source="tiled")
    inverse = _best_of(lambda: quantize(closed_form(picture.as_float(), mark), np.uint8))
    ours = _best_of(lambda: recover(picture, mark, DEFAULT))
    fitted = recover(picture, mark, DEFAULT).fitted
    return ["template mode vs closed-form inverse, 300x300 PNG, tiled mark",
            f"{ours * 1000:.1f} ms vs {inverse * 1000:.1f} ms ({fitted} px fitted)",
            f"{ours / inverse:.1f}x", "<= 3x"]


def placement_row() -> list[str]:
    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    logo = tight.scaled(96 / tight.size[1])
    photo = _photo((1536, 2816))
    placed = place(logo, Placement(1105, 2230, 1.3, 1.0), photo.shape[1:])
    marked = quantize(placed.alpha * placed.colour + (1 - placed.alpha) * photo, np.uint8)
    image = marked.transpose(2, 0, 1).astype(np.float32) / 255
    seconds = _best_of(lambda: locate(logo, image), repeats=2)
    found = locate(logo, image)
    hit = abs(found.top - 1105) <= 2 and abs(found.left - 2230) <= 2 and found.problem is None
    return ["placement, 96 px logo at 1.3x on a 2816x1536 photo", f"{seconds:.2f} s"
            f" ({'found' if hit else 'MISSED'})", f"{seconds:.2f} s", "<= 1 s"]


def _conv_flops(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-adds x 2 of every convolution in one forward pass."""
    total = 0

    def count(module: torch.nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        height, width = module.kernel_size
        per_output = module.in_channels // module.groups * height * width
        total += 2 * per_output * output.numel()

    hooks = [m.register_forward_hook(count) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.zeros(shape))
    for hook in hooks:
        hook.remove()
    return total


def _step_seconds(model: Stepped, problem: Problem, settings: DipSettings = DEFAULT) -> float:
    device = devices.pick("cpu")
    for index in range(3):  # warm-up
        step(model, problem, settings, index, device)
    return _best_of(lambda: [step(model, problem, settings, i, device) for i in range(5)]) / 5


def _rate(label: str, seconds: float, flop: float) -> list[str]:
    gflops = flop / seconds / 1e9
    return [label, f"{seconds * 1000:.0f} ms, {flop / 1e9:.2f} GFLOP",
            f"{gflops:.1f} GFLOP/s ({gflops / PEAK_GFLOPS:.0%} of peak)",
            f"peak {PEAK_GFLOPS:.0f} GFLOP/s"]


def step_row(height: int = 128, width: int = 288) -> list[str]:
    device = devices.pick("cpu")
    target = np.random.default_rng(0).random((3, height, width), dtype=np.float32)
    inputs = FitInputs(target=target, weight=np.ones((1, height, width), np.float32))
    model = set_up(target.shape, DEFAULT, 0, device)
    forward = _conv_flops(model.net, tuple(model.base_input.shape))
    seconds = _step_seconds(model, Problem.on(inputs, device))
    # backward costs about twice the forward
    return _rate(f"one DIP step, default net, {height}x{width} crop", seconds, 3 * forward)


def _small_crops(count: int, side: int = 64) -> list[FitInputs]:
    """Mask mode's inputs (held-out pixels, the biharmonic pull) for crops of a real photo."""
    photo = _photo((256, 512))
    crops = []
    for index in range(count):
        top, left = 64 * (index // 4) + 32, 112 * (index % 4) + 24
        target = np.ascontiguousarray(photo[:, top : top + side, left : left + side])
        weight = np.ones((1, side, side), np.float32)
        weight[:, 26:34, 12:52] = 0  # a stroke of text, with 24 px of context around it
        inside = np.ones((side, side), bool)
        crops.append(MaskFill.plan(target, weight, inside, DEFAULT).inputs)
    return crops


def batched_step_row(members: int = 8, side: int = 64) -> list[str]:
    device = devices.pick("cpu")
    crops = _small_crops(members, side)
    models = [set_up(crop.target.shape, DEFAULT, seed, device) for seed, crop in enumerate(crops)]
    stacked = StackedModel.of(models, DEFAULT)
    forward = members * _conv_flops(models[0].net, tuple(models[0].base_input.shape))
    seconds = _step_seconds(stacked, Problem.stack([Problem.on(c, device) for c in crops]))
    return _rate(f"one batched DIP step, default net, {members} crops of {side}x{side}",
                 seconds, 3 * forward)


def batch_row(members: int = 8, side: int = 64) -> list[str]:
    """The fits of `members` regions, together and one by one, with the same seeds (each timed
    twice, interleaved, the faster run counts: the first pays for oneDNN's kernel set-up)."""
    crops, seeds = _small_crops(members, side), list(range(members))
    batched, one_by_one = float("inf"), float("inf")
    for _ in range(2):
        started = time.perf_counter()
        together = fit_batch(crops, DEFAULT, seeds)
        batched = min(batched, time.perf_counter() - started)
        started = time.perf_counter()
        alone = [fit(crop, DEFAULT, seed=seed) for crop, seed in zip(crops, seeds, strict=True)]
        one_by_one = min(one_by_one, time.perf_counter() - started)
    gaps = np.stack([a.output - b.output for a, b in zip(together, alone, strict=True)])
    gaps = np.abs(gaps) * 255
    return [f"batched vs one-by-one fits of {members} regions ({side}x{side}, default preset)",
            f"{batched:.2f} s vs {one_by_one:.2f} s (outputs apart by {gaps.mean():.2f}/255 on "
            f"average, {gaps.max():.0f}/255 at most: float32 rounding, grown by Adam)",
            f"{one_by_one / batched:.2f}x faster", "> 1x"]


def threads_row(steps: int = 60) -> list[str]:
    """`remove`'s default thread count (the cores this process may use) against one thread, on
    the same mask job in the same run (A/B: one then the other, best of two each)."""
    from pipeline.batch.cores import default_threads
    from pipeline.core.fill.restore import restore

    pixels = _photo((128, 160))
    picture = Picture(pixels=quantize(pixels, np.uint8), mode="RGB", source="threads")
    hole = np.zeros((128, 160), bool)
    hole[40:72, 50:110] = True
    settings = DEFAULT.with_overrides(steps=steps)
    before, outputs, times = torch.get_num_threads(), {}, {}
    try:
        default = default_threads()
        for threads in sorted({1, default}):
            torch.set_num_threads(threads)
            times[threads] = _best_of(lambda: restore(picture, hole, settings), repeats=2)
            outputs[threads] = restore(picture, hole, settings).pixels
    finally:
        torch.set_num_threads(before)
    same = all(np.array_equal(outputs[1], output) for output in outputs.values())
    return [f"remove's default threads ({default}) vs 1 thread, 128x160 mask job, {steps} steps",
            f"{times[default]:.2f} s vs {times[1]:.2f} s ({'bit-identical' if same else 'differ'})",
            f"{times[1] / times[default]:.2f}x", ">= 1x"]


def fit_section() -> str:
    """How close a DIP step comes to the CPU's peak, what fitting regions together buys, and
    what remove's default thread count buys over one thread."""
    rows = [step_row(), step_row(64, 64), batched_step_row(), batch_row(), threads_row()]
    header = ["what", "measured", "ratio / rate", "target"]
    return (f"### The CPU's rate and batched fits (torch threads: {torch.get_num_threads()})\n\n"
            + table(header, rows))


def webp_job_rows() -> list[list[str]]:
    """The whole `unmark remove --template` command on a 2816x1536 lossy WebP with a 96 px
    logo (decoding, placement, recovery, writing, start-up), against `unmark --help` in the
    same run; and what the block-wise inverse (core/mark/chroma.py) recovers there."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from bench.quality import hole_psnr
    from pipeline.io.imaging import load_picture
    from pipeline.io.marks import save_mark

    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    logo = tight.scaled(96 / tight.size[1])
    photo = _photo((1536, 2816))
    placed = place(logo, Placement(1105, 2230, 1.0, 1.0), photo.shape[1:])
    marked = quantize(placed.alpha * placed.colour + (1 - placed.alpha) * photo, np.uint8)
    folder = Path(tempfile.mkdtemp(prefix="unmark-bench-"))
    image, template, output = folder / "ai.webp", folder / "logo.png", folder / "out.png"
    Image.fromarray(marked).save(image, quality=90)
    save_mark(logo, template)
    command = [sys.executable, "-m", "cli", "remove", str(image), "--template", str(template),
               "-o", str(output)]

    def run(arguments: list[str]) -> None:
        subprocess.run(arguments, cwd=ROOT, check=True, capture_output=True)

    job = _best_of(lambda: run(command))
    start_up = _best_of(lambda: run([sys.executable, "-m", "cli", "--help"]))
    truth = quantize(photo, np.uint8)
    footprint = placed.alpha > 1.5 / 255
    lossy = load_picture(image)
    plain = quantize(closed_form(lossy.as_float(), placed), np.uint8)
    cleaned = np.asarray(Image.open(output).convert("RGB"))
    return [["whole job: 96 px logo on a 2816x1536 WebP q90 vs `unmark --help`",
             f"{job:.2f} s vs {start_up:.2f} s", f"{job / start_up:.1f}x", "<= 2 s"],
            ["its footprint: hole PSNR, unmark vs the plain inverse",
             f"{hole_psnr(cleaned, truth, footprint):.2f} vs "
             f"{hole_psnr(plain, truth, footprint):.2f} dB", "", "inverse + 3 dB"]]


def section() -> str:
    from bench.tiled import tiled_rows

    rows = [template_row(), *tiled_rows(), placement_row(), *webp_job_rows()]
    header = ["what", "measured", "ratio / rate", "target"]
    return (f"### Template mode speed (torch threads: {torch.get_num_threads()})\n\n"
            + table(header, rows))


if __name__ == "__main__":
    print(section())
    print(fit_section())
