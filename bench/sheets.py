"""Pictures a person can look at: per case, truth | marked | each method over the hole's densest
window, enlarged; and the real photo beside the original DIP remover's published output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WINDOW = 160  # px of the photo shown per tile
ZOOM = 2
LABEL_HEIGHT = 18


def densest_window(hole: np.ndarray, size: int = WINDOW) -> tuple[slice, slice]:
    """The size x size window holding the most hole pixels (coarse search)."""
    height, width = hole.shape
    size = min(size, height, width)
    counts = np.pad(hole.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_at = -1, (0, 0)
    for top in range(0, height - size + 1, 8):
        for left in range(0, width - size + 1, 8):
            count = (counts[top + size, left + size] - counts[top, left + size]
                     - counts[top + size, left] + counts[top, left])
            if count > best:
                best, best_at = count, (top, left)
    top, left = best_at
    return slice(top, top + size), slice(left, left + size)


def labelled(pixels: np.ndarray, label: str, zoom: int = ZOOM) -> Image.Image:
    image = Image.fromarray(pixels).convert("RGB")
    image = image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)
    tile = Image.new("RGB", (image.width, image.height + LABEL_HEIGHT), "white")
    tile.paste(image, (0, LABEL_HEIGHT))
    ImageDraw.Draw(tile).text((4, 3), label, fill="black")
    return tile


def side_by_side(tiles: list[Image.Image], gap: int = 4) -> Image.Image:
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, max(t.height for t in tiles)), "white")
    left = 0
    for tile in tiles:
        sheet.paste(tile, (left, 0))
        left += tile.width + gap
    return sheet


def case_sheet(panels: dict[str, np.ndarray], hole: np.ndarray, path: Path) -> Path:
    """`panels`: label -> (H, W, C) uint8 full images (truth and marked first)."""
    rows, cols = densest_window(hole)
    side_by_side([labelled(p[rows, cols], label) for label, p in panels.items()]).save(path)
    return path


def real_sheet(marked: np.ndarray, ours: np.ndarray, seed_output: Path | None,
               hole: np.ndarray, path: Path) -> Path:
    """Top: the seed's published output (right half of its side-by-side), ours and the input at
    the seed's size. Bottom: ours and the input over the mark, 1:1."""
    top: list[Image.Image] = []
    if seed_output is not None and seed_output.exists():
        published = Image.open(seed_output).convert("RGB")
        half = published.crop((published.width // 2, 0, published.width, published.height))
        top.append(labelled(np.asarray(half), "original DIP remover (published)", zoom=1))
        size = half.size
    else:
        size = (472, round(472 * marked.shape[0] / marked.shape[1]))
    for label, pixels in (("unmark default", ours), ("input", marked)):
        small = Image.fromarray(pixels).convert("RGB").resize(size, Image.Resampling.LANCZOS)
        top.append(labelled(np.asarray(small), label, zoom=1))
    ys, xs = np.nonzero(hole)
    rows = slice(max(0, ys.min() - 16), ys.max() + 16)
    cols = slice(max(0, xs.min() - 16), xs.max() + 16)
    bottom = side_by_side([labelled(ours[rows, cols], "unmark default, 1:1", zoom=1),
                           labelled(marked[rows, cols], "input, 1:1", zoom=1)])
    upper = side_by_side(top)
    sheet = Image.new("RGB", (max(upper.width, bottom.width), upper.height + bottom.height + 4),
                      "white")
    sheet.paste(upper, (0, 0))
    sheet.paste(bottom, (0, upper.height + 4))
    sheet.save(path)
    return path
