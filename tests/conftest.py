"""Shared fixtures: tiny real photos cut from the shipped samples, and a tiny fast preset."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from pipeline.core.fill.restore import quantize
from pipeline.io.marks import load_mark
from pipeline.settings import FAST, NetworkShape

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

torch.set_num_threads(2)
# a script's background job starts with SIGINT ignored, and its children inherit that: the
# Ctrl-C tests need Ctrl-C to arrive
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def tiny_settings():
    """A small network and few steps: real optimisation, seconds per test."""
    return dataclasses.replace(
        FAST,
        network=NetworkShape(
            channels_down=(16, 16, 16),
            channels_up=(16, 16, 16),
            channels_skip=(4, 4, 4),
            input_depth=8,
            separable=False,
            upsample="bilinear",
        ),
        steps=40,
        context=8,
        fill="network",  # these tests are about the network's fit; the classic fill has its own
    )


def textured_case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A real texture (96 x 96, RGB) and two painted strokes across it."""
    grey = np.asarray(Image.open(SAMPLES / "textures" / f"{name}.png").convert("L"))
    truth = np.repeat(grey[..., None], 3, axis=2)
    hole = np.zeros(grey.shape, dtype=bool)
    hole[30:37, 8:88] = True
    hole[10:86, 60:66] = True
    return truth, hole


def hole_psnr(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """PSNR (dB) over the hole, 8-bit scale."""
    error = result[hole].astype(np.float64) - truth[hole].astype(np.float64)
    return 10 * np.log10(255**2 / (error**2).mean())


def sample_photo(name: str = "coffee", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A real photo (the clean truth), shrunk to `size` (width, height)."""
    image = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB")
    return image.resize(size, Image.Resampling.LANCZOS)


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """White image (keep) with a black rectangle (remove); box = (left, top, right, bottom)."""
    mask = np.full((size[1], size[0]), 255, dtype=np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 0
    return Image.fromarray(mask, "L")


@pytest.fixture
def photo_and_mask(tmp_path: Path) -> tuple[Path, Path]:
    photo = sample_photo()
    photo_path = tmp_path / "photo.png"
    photo.save(photo_path)
    mask_path = tmp_path / "mask.png"
    box_mask(photo.size, (20, 16, 36, 26)).save(mask_path)
    return photo_path, mask_path


SIZE = (80, 224)  # height, width


def marked(opacity: float, name: str = "coffee") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed, truth, rough mask): the shipped logo's shape in white at `opacity` over a
    shipped photo, 8-bit; the mask is the logo's footprint dilated by 3 px."""
    logo = load_mark(SAMPLES / "marks" / "logo-tight.png")
    height, width = SIZE
    shape = np.zeros(SIZE, np.float32)
    top, left = (height - logo.size[0]) // 2, (width - logo.size[1]) // 2
    shape[top:top + logo.size[0], left:left + logo.size[1]] = logo.alpha / logo.alpha.max()
    photo = Image.open(SAMPLES / "clean" / f"{name}.png").convert("RGB").resize((width, height))
    truth = np.asarray(photo).transpose(2, 0, 1).astype(np.float32) / 255
    alpha = opacity * shape
    observed = quantize(alpha * 1.0 + (1 - alpha) * truth, np.uint8).transpose(2, 0, 1) / 255
    hole = ndimage.binary_dilation(shape > 0.01, iterations=3)
    return observed.astype(np.float32), truth, hole
