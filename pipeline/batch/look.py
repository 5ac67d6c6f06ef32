"""A finished job looked at once: its residual check (review.py) and the thumbnails the HTML
report shows (before, after, and an enlarged crop of the changed area), written once per output
into the state folder's thumbs/ and cached by the files' size and mtime.

Workers call `look_at` right after writing an output; `unmark report` calls it again only for
outputs it has no current look at (an old ledger, an output replaced since).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pipeline.batch.review import FOOTPRINT_ALPHA, Residual, residual
from pipeline.io.imaging import Picture, load_mask, load_picture, save_picture
from pipeline.job import Job

if TYPE_CHECKING:
    from pipeline.core.mark.placement import Placement

THUMB_SIDE = 200  # px: the longer side of a thumbnail
CROP_MARGIN = 0.25  # of the footprint's box, on each side of the enlarged crop
CROP_MIN = 12  # px: the smallest crop (tiny marks)
CROP_SIDE = 200  # px: small crops are enlarged by a whole factor towards this side
CROP_MAX = 480  # px: a larger mark area is shown at 1:1 around its centre, never shrunk
VERSION = 2  # bump when thumbnails or checks change meaning


@dataclass(frozen=True)
class Look:
    """What the report shows of one job: thumbnail file names (in thumbs/) and the check."""

    stamp: str  # the output's (or input's) size and mtime it was computed from
    before: str
    after: str = ""
    crop_before: str = ""
    crop_after: str = ""
    residual: Residual | None = None

    def as_dict(self) -> dict:
        data = {key: getattr(self, key) for key in
                ("stamp", "before", "after", "crop_before", "crop_after")}
        data["residual"] = self.residual.as_dict() if self.residual else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Look | None:
        try:
            check = Residual.from_dict(data["residual"]) if data.get("residual") else None
            return cls(str(data["stamp"]), str(data["before"]), str(data.get("after", "")),
                       str(data.get("crop_before", "")), str(data.get("crop_after", "")), check)
        except (KeyError, TypeError):
            return None


def stamp(*paths: Path | None) -> str:
    """Changes whenever one of the files does (size, mtime)."""
    parts = [f"v{VERSION}"]
    for path in paths:
        if path is not None:
            info = os.stat(path)
            parts.append(f"{path}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _rgb8(picture: Picture) -> np.ndarray:
    pixels = picture.pixels
    if pixels.dtype != np.uint8:
        pixels = (pixels.astype(np.float32) * 255 / picture.max_value).round().astype(np.uint8)
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] == 4:  # CMYK shown roughly, as its RGB conversion would be
        return np.asarray(Image.fromarray(pixels, "CMYK").convert("RGB"))
    return pixels


def _write(pixels: np.ndarray, folder: Path, name: str, side: int = THUMB_SIDE) -> str:
    """A thumbnail, the longer side `side` px (tiny crops are enlarged, pixels kept sharp)."""
    image = Image.fromarray(pixels)
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    small = np.asarray(image.resize(size, resample))
    save_picture(Picture(np.ascontiguousarray(small), "RGB"), folder / name)
    return name


def _write_crop(pixels: np.ndarray, folder: Path, name: str) -> str:
    """The mark area at 1:1 or enlarged by a whole factor (pixels kept sharp), never shrunk:
    a faint ghost must stay visible."""
    height, width = pixels.shape[:2]
    top, left = max(0, (height - CROP_MAX) // 2), max(0, (width - CROP_MAX) // 2)
    pixels = pixels[top:top + CROP_MAX, left:left + CROP_MAX]
    factor = max(1, CROP_SIDE // max(pixels.shape[:2]))
    enlarged = np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
    save_picture(Picture(np.ascontiguousarray(enlarged), "RGB"), folder / name)
    return name


def footprint(job: Job, placement: Placement | None, size: tuple[int, int]) -> np.ndarray | None:
    """Where the mark was expected, as opacity (H, W) in [0, 1]; None if unknown."""
    if job.mask is not None:
        return load_mask(job.mask, size, invert=job.invert_mask).astype(np.float32)
    if isinstance(job.template, Path) and placement and job.template.is_file():
        from pipeline.core.mark.placement import place
        from pipeline.io.marks import load_mark

        return place(load_mark(job.template), placement, size).alpha
    return None


def _crop_box(opacity: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.nonzero(opacity > FOOTPRINT_ALPHA)
    height, width = opacity.shape
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    grow_y = max(round((bottom - top) * CROP_MARGIN), (CROP_MIN - (bottom - top)) // 2, 2)
    grow_x = max(round((right - left) * CROP_MARGIN), (CROP_MIN - (right - left)) // 2, 2)
    return (slice(max(top - grow_y, 0), min(bottom + grow_y, height)),
            slice(max(left - grow_x, 0), min(right + grow_x, width)))


def look_at(job: Job, placement: Placement | None, folder: Path, done: bool = True) -> Look:
    """Thumbnails and check of one job (`done`: its output is written), cached in `folder`."""
    key = stamp(job.image, job.output if done else None)
    cached = folder / f"{key}.json"
    if cached.is_file():
        look = Look.from_dict(json.loads(cached.read_text()))
        if look is not None:
            return look
    folder.mkdir(parents=True, exist_ok=True)
    picture = load_picture(job.image)
    before = _rgb8(picture)
    look = Look(key, _write(before, folder, f"{key}-before.jpg"))
    if done:
        output = load_picture(job.output)
        after = _rgb8(output)
        opacity = footprint(job, placement, picture.size)
        check, crops = None, {}
        if opacity is not None and after.shape == before.shape:
            check = residual(picture.pixels, output.pixels, opacity, job.mask is None)
            if (opacity > FOOTPRINT_ALPHA).any():
                box = _crop_box(opacity)
                crops = {"crop_before": _write_crop(before[box], folder, f"{key}-crop-before.png"),
                         "crop_after": _write_crop(after[box], folder, f"{key}-crop-after.png")}
        look = Look(key, look.before, _write(after, folder, f"{key}-after.jpg"),
                    residual=check, **crops)
    _save_json(cached, look.as_dict())
    return look


def _save_json(path: Path, data: dict) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)
