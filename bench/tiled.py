"""A tiled mark's job against what it competes with, in the same run: a one-tile template and a
sheet smaller than the photo, found, every copy placed and checked, and removed, against finding
the first copy plus the bare closed-form inverse of the whole tiled mark."""

from __future__ import annotations

import numpy as np

from bench.speed import SAMPLES, _best_of, _photo
from pipeline.core.blend import Mark, closed_form, recover
from pipeline.core.placement import _scaled, locate
from pipeline.core.restore import quantize
from pipeline.core.tiling import Copy, Tiling, find_copies
from pipeline.io.imaging import Picture
from pipeline.io.marks import load_mark
from pipeline.settings import DEFAULT

SIZE = (200, 260)  # height, width
ORIGIN, ACROSS, STAGGER = (-7, -30), (0, 110), (40, 55)  # rows shifted by half a period


def _grid(tile: Mark) -> Mark:
    copies = []
    for row in range(-10, 11):
        for column in range(-10, 11):
            top = ORIGIN[0] + row * STAGGER[0] + column * ACROSS[0]
            left = ORIGIN[1] + row * STAGGER[1] + column * ACROSS[1]
            if -tile.size[0] < top < SIZE[0] and -tile.size[1] < left < SIZE[1]:
                copies.append(Copy(top, left, on_grid=True))
    return Tiling(tile, tuple(copies), 0, None).mark(SIZE)


def tiled_rows() -> list[list[str]]:
    tile = _scaled(load_mark(SAMPLES / "marks" / "logo-tight.png"), 0.5)
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
