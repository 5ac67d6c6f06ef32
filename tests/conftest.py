"""Shared fixtures: tiny real photos cut from the shipped samples, and a tiny fast preset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.settings import FAST, NetworkShape

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

torch.set_num_threads(2)


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
    )


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
