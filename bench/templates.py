"""Template mode on the translucent gt cases, lossless and as JPEG q90: hole PSNR of template mode
(full-frame and tight-logo templates), mask mode and the closed-form inverse."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.quality import hole_psnr
from pipeline.core.fill.restore import quantize, restore
from pipeline.core.mark.blend import Mark, closed_form, recover
from pipeline.core.mark.placement import MIN_CONFIDENCE, locate, place
from pipeline.io.imaging import load_mask, load_picture
from pipeline.io.marks import load_mark
from pipeline.picture import Picture
from pipeline.settings import DEFAULT, DipSettings


def as_jpeg(picture: Picture, folder: Path, quality: int = 90) -> Picture:
    """The picture saved as a JPEG file and read back, as a user's JPEG would arrive."""
    path = folder / f"{Path(picture.source).parent.name}.jpg"
    Image.fromarray(picture.pixels).save(path, "JPEG", quality=quality)
    return load_picture(path)


def tight(mark: Mark) -> Mark:
    rows, cols = np.nonzero(mark.alpha > 0)
    window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    return Mark(alpha=mark.alpha[window], colour=mark.colour[(slice(None), *window)])


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result.pixels, time.perf_counter() - started


def recovered(marked: Picture, mark: Mark, settings: DipSettings) -> Picture:
    return recover(marked, mark, settings).picture


def section(root: Path, settings: DipSettings = DEFAULT) -> str:
    header = ["case", "file", "closed form", "mask mode", "template (full frame)",
              "template (tight logo)", "template - closed form", "template - mask"]
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="unmark-bench-"))
    for name in ("barbara", "f16", "zebra"):
        folder = root / name
        clean = load_picture(folder / "clean.png").pixels
        lossless = load_picture(folder / "watermarked.png")
        hole = load_mask(folder / "mask.png", lossless.size)
        mark = load_mark(folder / "template.png")
        for label, marked in (("png", lossless), ("jpeg q90", as_jpeg(lossless, scratch))):
            inverse = quantize(closed_form(marked.as_float(), mark), np.uint8)
            inverse_psnr = hole_psnr(inverse, clean, hole)
            masked, mask_seconds = timed(restore, marked, hole, settings)
            full, full_seconds = timed(recovered, marked, mark, settings)
            placement = locate(tight(mark), marked.as_float())
            found = place(tight(mark), placement, marked.size)
            located = recovered(marked, found, settings).pixels
            full_psnr = hole_psnr(full, clean, hole)
            mask_psnr = hole_psnr(masked, clean, hole)
            rows.append([
                name, label, f"{inverse_psnr:.2f}", f"{mask_psnr:.2f} ({mask_seconds:.0f} s)",
                f"{full_psnr:.2f} ({full_seconds:.0f} s)",
                f"{hole_psnr(located, clean, hole):.2f} (conf {placement.confidence:.2f}"
                f"{'' if placement.confidence >= MIN_CONFIDENCE else ', below threshold'})",
                f"{full_psnr - inverse_psnr:+.2f}", f"{full_psnr - mask_psnr:+.2f}",
            ])
            print(rows[-1], flush=True)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "### Template mode: hole PSNR (dB) on the translucent cases\n\n" + "\n".join(lines)
