"""A tiled mark's job against what it competes with, in the same run: a one-tile template and a
sheet smaller than the photo, found, every copy placed and checked, and removed, against finding
the first copy plus the bare closed-form inverse of the whole tiled mark."""

from __future__ import annotations

import numpy as np

from bench.speed import SAMPLES, _best_of, _photo
from pipeline.core.fill.restore import quantize
from pipeline.core.mark.blend import Mark, closed_form, recover
from pipeline.core.mark.placement import locate
from pipeline.core.mark.tiling import Copy, Tiling, find_copies
from pipeline.io.marks import load_mark
from pipeline.picture import Picture
from pipeline.settings import DEFAULT

SIZE = (200, 260)  # height, width
ORIGIN, ACROSS, STAGGER = (-7, -30), (0, 110), (40, 55)  # rows shifted by half a period


def _grid(tile: Mark) -> Mark:
    """The tile on the staggered grid, every copy that meets the photo."""
    steps = np.arange(-10, 11)
    rows, columns = np.meshgrid(steps, steps, indexing="ij")
    tops = (ORIGIN[0] + rows * STAGGER[0] + columns * ACROSS[0]).ravel()
    lefts = (ORIGIN[1] + rows * STAGGER[1] + columns * ACROSS[1]).ravel()
    meets = (tops > -tile.size[0]) & (tops < SIZE[0]) & (lefts > -tile.size[1]) & (lefts < SIZE[1])
    copies = tuple(Copy(int(top), int(left), on_grid=True)
                   for top, left in zip(tops[meets], lefts[meets], strict=True))
    return Tiling(tile, copies, 0, None).mark(SIZE)


def tiled_rows() -> list[list[str]]:
    tile = load_mark(SAMPLES / "marks" / "logo-tight.png").scaled(0.5)
    whole = _grid(tile)
    observed = whole.alpha * whole.colour + (1 - whole.alpha) * _photo(SIZE)
    picture = Picture(pixels=quantize(observed, np.uint8), mode="RGB", source="tiled")
    image = picture.as_float()
    sheet_box = (slice(23, 143), slice(41, 161))
    sheet = Mark(whole.alpha[sheet_box].copy(), whole.colour[(slice(None), *sheet_box)].copy())
    rows = []
    for name, template in (("one tile", tile), ("120x120 sheet", sheet)):
        found = find_copies(template, image, False, locate(template, image))

        def bare(template: Mark = template) -> None:
            locate(template, image)
            quantize(closed_form(image, whole), np.uint8)

        def job(template: Mark = template) -> None:
            first = locate(template, image)
            recover(picture, find_copies(template, image, False, first).mark(picture.size),
                    DEFAULT)

        ours, baseline = _best_of(job), _best_of(bare)
        rows.append([f"tiled job ({name}, {SIZE[1]}x{SIZE[0]} PNG): every copy vs first copy"
                     " + bare inverse", f"{ours * 1000:.0f} ms vs {baseline * 1000:.0f} ms"
                     f" ({len(found.copies)} copies, {found.unconfirmed} refused)",
                     f"{ours / baseline:.1f}x", "<= 3x"])
    return rows
