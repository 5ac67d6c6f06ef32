"""`make bench`: quality, speed and throughput against baselines measured in the same run.

Reads ../shared/data/ when it is there (ground-truth cases, real photos); prints markdown tables
and writes them to bench/results.md. Sections can be picked: `python -m bench.run quality speed`.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from bench import batch, quality, sheets, studio, templates, video
from bench.metrics import Quality
from pipeline.settings import DEFAULT, REFERENCE

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results.md"
SHEETS = ROOT / "bench" / "sheets"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def section_quality(args: argparse.Namespace) -> str:
    """Every gt case, full size, mask mode: peers and presets, PSNR beside what people see."""
    cases = []
    if "gt" in args.cases:
        cases += quality.load_cases(SHARED / "gt")
    if "stock" in args.cases:
        cases += quality.load_stock_cases(ROOT / "samples")
    with_network = dataclasses.replace(DEFAULT, fill="network+classic", steps=args.network_steps,
                                       min_steps=args.network_steps)
    methods = {
        "OpenCV Telea": quality.telea,
        "biharmonic": quality.biharmonic,
        "PatchMatch": quality.patchmatch,
        "FSR": quality.fsr,
        "FSR + PatchMatch graft": quality.graft,
        "unmark default": quality.dip(DEFAULT),
        "unmark --steps 0": quality.dip(quality.with_steps(DEFAULT, 0)),
        f"unmark + network ({args.network_steps} steps)": quality.dip(with_network),
        "unmark 0.3 default (network fill)": quality.dip(dataclasses.replace(DEFAULT,
                                                                             fill="network")),
        "unmark --separate": quality.separated(DEFAULT),
    }
    rows, by_method = [], {name: [] for name in methods}
    for case in cases:
        scores = {name: quality.score_seen(name, method, case) for name, method in methods.items()}
        for name, result in scores.items():
            by_method[name].append(result)
            rows.append([case.name, name, *_seen_cells(result.quality), f"{result.seconds:.1f}"])
            print(rows[-1], flush=True)
        panels = {"truth": case.clean, "marked": case.marked.pixels}
        panels.update({name: result.pixels for name, result in scores.items()})
        sheets.case_sheet(panels, case.hole, SHEETS / f"{case.name}.png")
    means = []
    for name, results in by_method.items():
        mean = Quality(*(float(np.mean([getattr(r.quality, f) for r in results]))
                         for f in ("psnr", "haarpsi", "gmsd", "detail", "spurious")))
        worst = max(r.quality.spurious for r in results)
        seconds = float(np.mean([r.seconds for r in results]))
        means.append([name, *_seen_cells(mean), f"{worst:.2f}", f"{seconds:.1f}"])
    header = ["case", "fill", "hole PSNR (dB)", "HaarPSI", "GMSD", "detail", "spurious /1000",
              "seconds"]
    return (
        "### Mask mode on the ground-truth cases: what people see\n\n"
        "HaarPSI (1 = identical) and GMSD (0 = identical) on the hole's bounding box; detail = "
        "fine detail of the fill over the truth's (a smudge ~0.2-0.3); spurious = strong edges "
        "per 1000 hole pixels where the truth has none within 2 px. Cases: the gt photos and the "
        "shipped stock previews (their logo's footprint grown by 3 px as the mask), inpainting "
        "forced. Sheets: `bench/sheets/`."
        "\n\n#### Means over the cases\n\n"
        + table(["fill", *header[2:-1], "worst spurious", "seconds"], means)
        + "\n\n#### Per case\n\n"
        + table(header, rows)
    )


def _seen_cells(seen: Quality) -> list[str]:
    return [f"{seen.psnr:.2f}", f"{seen.haarpsi:.3f}", f"{seen.gmsd:.3f}", f"{seen.detail:.2f}",
            f"{seen.spurious:.2f}"]


def section_speed(args: argparse.Namespace) -> str:
    """Time to the reference's quality on the kate 256 px centre crop (as FACTS.md measures it)."""
    (kate,) = [c for c in quality.load_cases(SHARED / "gt") if c.name == "kate"]
    crop = kate.crop(256)
    reference = quality.score(
        "reference", quality.dip(quality.with_steps(REFERENCE, args.reference_steps)), crop
    )
    print(reference, flush=True)
    rows = [[f"reference, {args.reference_steps} steps", f"{reference.psnr:.2f}",
             f"{reference.seconds:.1f}", "1.0x"]]
    # The DIP alone (no biharmonic mix) shows what the network and the crops buy by themselves.
    network_fill = dataclasses.replace(DEFAULT, fill="network")
    variants = {
        "network fill": network_fill,
        "network fill, DIP only": dataclasses.replace(network_fill, classic_mix=False,
                                                      prior_weight=0.0),
    }
    summary = []
    for label, settings in variants.items():
        reached = None
        for steps in args.default_steps:
            ours = quality.score(label, quality.dip(quality.with_steps(settings, steps)), crop)
            print(ours, flush=True)
            speedup = reference.seconds / ours.seconds
            rows.append([f"{label}, {steps} steps", f"{ours.psnr:.2f}", f"{ours.seconds:.1f}",
                         f"{speedup:.1f}x"])
            if reached is None and ours.psnr >= reference.psnr:
                reached = (steps, ours.seconds, speedup)
        summary.append(
            f"{label}: reaches the reference's {reference.psnr:.2f} dB with {reached[0]} steps in "
            f"{reached[1]:.1f} s, **{reached[2]:.0f}x faster**."
            if reached
            else f"{label}: did not reach the reference's PSNR at the step budgets tried."
        )
    from bench import speed  # it reads this module's helpers: import it once this one is loaded

    return (
        "### Time to the reference's quality (kate, 256 px centre crop)\n\n"
        + table(["run", "hole PSNR (dB)", "seconds", "speed-up"], rows)
        + "\n\n"
        + "\n".join(f"- {line}" for line in summary)
        + "\n\n"
        + speed.fit_section()
    )


def section_real(args: argparse.Namespace) -> str:
    """The real 1080x718 photo at full resolution with the default preset."""
    from pipeline.core.fill.restore import restore
    from pipeline.io.imaging import load_mask, load_picture

    photo = load_picture(SHARED / "real" / "watermarked" / "watermarked0.png")
    hole = load_mask(SHARED / "real" / "masks" / "mask0.png", photo.size)
    started = time.perf_counter()
    result = restore(photo, hole, DEFAULT)
    seconds = time.perf_counter() - started
    height, width = result.size
    sheets.real_sheet(photo.pixels[..., :3], result.pixels[..., :3],
                      SHARED / "real" / "seed-outputs" / "output0.webp", hole,
                      SHEETS / "watermarked0.png")
    return (
        "### A real photo at full resolution\n\n"
        + table(
            ["photo", "size in", "size out", "masked", "seconds"],
            [["watermarked0.png", f"{photo.size[1]}x{photo.size[0]}", f"{width}x{height}",
              f"{hole.mean():.1%}", f"{seconds:.1f}"]],
        )
    )


def section_fast_paths(args: argparse.Namespace) -> str:
    from bench import speed  # it reads this module's helpers: import it once this one is loaded

    return speed.section()


SECTIONS = {
    "quality": section_quality,
    "fast_paths": section_fast_paths,
    "speed": section_speed,
    "real": section_real,
    "templates": lambda args: templates.section(SHARED / "gt"),
    "throughput": batch.section_throughput,
    "gpu": batch.section_gpu_sharing,
    "studio": lambda args: studio.section(),
    "video": video.section,
}


def default_sections() -> list[str]:
    """Every section; `gpu` only where there is a GPU to measure."""
    if torch.cuda.is_available():
        return list(SECTIONS)
    print("gpu: skipped (no CUDA device on this machine)", flush=True)
    return [name for name in SECTIONS if name != "gpu"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # No `choices`: argparse then rejects an empty list, i.e. the default run of every section.
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"{', '.join(SECTIONS)}; default: all (gpu only with CUDA)")
    parser.add_argument("--reference-steps", type=int, default=300)
    parser.add_argument("--default-steps", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    parser.add_argument("--cases", nargs="+", default=["gt", "stock"], choices=["gt", "stock"],
                        help="quality: the ground-truth photos, the shipped stock previews")
    parser.add_argument("--network-steps", type=int, default=100,
                        help="quality: steps of the network when it joins the classic fills")
    parser.add_argument("--batch-images", type=int, default=20, help="throughput, gpu")
    parser.add_argument("--batch-steps", type=int, default=100, help="throughput, gpu")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    args.sections = args.sections or default_sections()
    SHEETS.mkdir(exist_ok=True)
    if not SHARED.exists():
        print(f"{SHARED} is not here: the benchmark needs the shared ground-truth data.")
        return
    torch.set_num_threads(torch.get_num_threads())
    header = (
        f"Measured {date.today()} on {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, Python {sys.version.split()[0]}."
    )
    parts = [header]
    for name in args.sections:
        parts.append(SECTIONS[name](args))
        print(parts[-1], flush=True)
    args.output.write_text("\n\n".join(parts) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
