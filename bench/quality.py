"""Hole PSNR, perceptual scores and wall time of unmark's presets and peer fills on the
ground-truth cases."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from bench.metrics import Quality, measure
from pipeline.core.fill.exemplar import exemplar_fill
from pipeline.core.fill.restore import restore
from pipeline.io.imaging import load_mask, load_picture
from pipeline.picture import Picture
from pipeline.settings import DipSettings


@dataclass(frozen=True)
class Case:
    name: str
    marked: Picture
    clean: np.ndarray  # (H, W, C) uint8
    hole: np.ndarray  # (H, W) bool

    def crop(self, size: int) -> Case:
        """The centre size x size crop (how the reference is run where 3000 full steps would
        take hours)."""
        height, width = self.hole.shape
        top, left = (height - size) // 2, (width - size) // 2
        window = (slice(top, top + size), slice(left, left + size))
        return Case(
            name=f"{self.name} {size}px crop",
            marked=self.marked.with_pixels(np.ascontiguousarray(self.marked.pixels[window])),
            clean=self.clean[window],
            hole=self.hole[window],
        )


def load_stock_cases(samples: Path) -> list[Case]:
    """The shipped stock previews (a translucent logo, lossless) with a painted-like mask: the
    logo's footprint grown by 3 px. Inpainting them is what a mask-only user gets."""
    from scipy import ndimage

    from pipeline.io.marks import load_mark

    logo = load_mark(samples / "marks" / "logo.png")
    hole = ndimage.binary_dilation(logo.alpha > 0.01, iterations=3)
    cases = []
    for path in sorted((samples / "stock").glob("*.png")):
        clean = load_picture(samples / "clean" / f"{path.stem}.stock.png").pixels
        cases.append(Case(f"stock-{path.stem}", load_picture(path), clean, hole))
    return cases


def load_cases(root: Path) -> list[Case]:
    cases = []
    for folder in sorted(p for p in root.iterdir() if (p / "clean.png").exists()):
        marked = load_picture(folder / "watermarked.png")
        cases.append(
            Case(
                name=folder.name,
                marked=marked,
                clean=load_picture(folder / "clean.png").pixels,
                hole=load_mask(folder / "mask.png", marked.size),
            )
        )
    return cases


def hole_psnr(result: np.ndarray, clean: np.ndarray, hole: np.ndarray) -> float:
    error = result[hole].astype(np.float64) - clean[hole].astype(np.float64)
    return float(10 * np.log10(255.0**2 / max((error**2).mean(), 1e-12)))


@dataclass(frozen=True)
class Score:
    method: str
    case: str
    psnr: float
    seconds: float
    quality: Quality | None = None
    pixels: np.ndarray | None = None  # (H, W, C) uint8 result, for the sheets


Method = Callable[[Case], np.ndarray]


def telea(case: Case) -> np.ndarray:
    hole = case.hole.astype(np.uint8) * 255
    return cv2.inpaint(case.marked.pixels, hole, 3, cv2.INPAINT_TELEA)


def biharmonic(case: Case) -> np.ndarray:
    image = case.marked.pixels.astype(np.float64) / 255
    filled = inpaint_biharmonic(image, case.hole, channel_axis=-1)
    return (np.clip(filled, 0, 1) * 255).round().astype(np.uint8)


def patchmatch(case: Case) -> np.ndarray:
    """PatchMatch (pypatchmatch, patch radius 3) over the whole image: the exemplar peer."""
    image = case.marked.as_float()
    filled = exemplar_fill(image, case.hole, seed=0)
    return (filled.transpose(1, 2, 0) * 255).round().astype(np.uint8)


def fsr(case: Case) -> np.ndarray:
    """Frequency-selective reconstruction (opencv-contrib's xphoto, the fast variant)."""
    from pipeline.core.fill.structure import fsr_fill

    filled = fsr_fill(case.marked.as_float(), case.hole)
    return (filled.transpose(1, 2, 0) * 255).round().astype(np.uint8)


def graft(case: Case) -> np.ndarray:
    """The classic pipeline without a network, as the fill issue measured it: FSR's low band
    (blur 1.5 px) plus PatchMatch's detail, scaled to the ring around the hole."""
    from pipeline.core.fill.structure import fsr_fill
    from pipeline.core.fill.texture import detail_gain, lowpass

    image = case.marked.as_float()
    structure = fsr_fill(image, case.hole)
    exemplar = exemplar_fill(image, case.hole, seed=0)
    inside = np.ones(case.hole.shape, dtype=bool)
    gain = detail_gain(image, exemplar, case.hole, inside)
    filled = lowpass(structure, 1.5) + gain * (exemplar - lowpass(exemplar, 1.5))
    filled = np.where(case.hole[None], np.clip(filled, 0, 1), image)
    return (filled.transpose(1, 2, 0) * 255).round().astype(np.uint8)


def separated(settings: DipSettings) -> Method:
    """Mask mode with separation on: a translucent mark found in the mask is un-blended."""
    from pipeline.core.separate.mask_route import remove_in_mask

    def run(case: Case) -> np.ndarray:
        chosen = dataclasses.replace(settings, separate=True)
        return remove_in_mask(case.marked, case.hole, chosen).picture.pixels

    return run


def dip(settings: DipSettings) -> Method:
    def run(case: Case) -> np.ndarray:
        return restore(case.marked, case.hole, settings).pixels

    return run


def score(method_name: str, method: Method, case: Case) -> Score:
    result, seconds = _timed(method, case)
    return Score(method_name, case.name, hole_psnr(result, case.clean, case.hole), seconds)


def score_seen(method_name: str, method: Method, case: Case) -> Score:
    """As `score`, with the perceptual numbers and the pixels kept for the sheet."""
    result, seconds = _timed(method, case)
    seen = measure(_as_float(result), _as_float(case.clean), case.hole)
    return Score(method_name, case.name, seen.psnr, seconds, seen, result)


def _timed(method: Method, case: Case) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    result = method(case)
    return result, time.perf_counter() - started


def with_steps(settings: DipSettings, steps: int) -> DipSettings:
    return dataclasses.replace(settings, steps=steps)


def _as_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32).transpose(2, 0, 1) / 255
