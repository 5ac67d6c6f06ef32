"""A hole's broad shapes from classic fills, mixed as the held-out pixels ask.

No single fill wins everywhere: frequency-selective reconstruction (FSR, Seiler and Kaup 2011,
opencv-contrib's `xphoto`) continues textures and edges, biharmonic inpainting is the safer guess
on thin strokes and smooth gradients, a fitted network is a third opinion where one was fitted.
Each predicts the held-out pixels (the hole shifted onto known pixels) too; the mix of them that
predicts those best (non-negative weights summing to one) fills the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import nnls
from skimage.restoration import inpaint_biharmonic

SUM_TO_ONE = 1e3  # how hard the weights are held to a sum of one, per held-out value


def biharmonic_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of (C, H, W) floats in [0, 1]: smooth and safe."""
    filled = inpaint_biharmonic(image.transpose(1, 2, 0), unknown, channel_axis=-1)
    return np.clip(filled, 0, 1).transpose(2, 0, 1).astype(np.float32)


def fsr_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Frequency-selective reconstruction of (C, H, W) floats in [0, 1] (8-bit inside OpenCV);
    pixels outside `unknown` (H, W) are returned as they were."""
    channels = image.shape[0]
    rgb = image if channels == 3 else np.repeat(image[:1], 3, axis=0)
    pixels = np.ascontiguousarray((np.clip(rgb, 0, 1).transpose(1, 2, 0) * 255).round()
                                  .astype(np.uint8))
    known = (~unknown).astype(np.uint8) * 255  # OpenCV's FSR marks the KNOWN pixels non-zero
    filled = np.zeros_like(pixels)
    cv2.xphoto.inpaint(pixels, known, filled, cv2.xphoto.INPAINT_FSR_FAST)
    out = np.where(unknown[None], filled.transpose(2, 0, 1).astype(np.float32) / 255, rgb)
    return out if channels == 3 else out.mean(axis=0, keepdims=True)


@dataclass(frozen=True)
class Candidate:
    """One fill of the hole, and its prediction of the held-out pixels (None without them)."""

    name: str
    values: np.ndarray  # (C, H, W)
    on_holdout: np.ndarray | None  # (C, H, W)


@dataclass(frozen=True)
class StructureMix:
    """The mixed fill and the weight each candidate got."""

    values: np.ndarray  # (C, H, W)
    weights: dict[str, float]


def mix_weights(predictions: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one whose mix of `predictions` (each (N,) values) best
    matches `target` (N,) in squared error."""
    basis = np.stack(predictions, axis=1).astype(np.float64)
    hold = SUM_TO_ONE * np.sqrt(len(target))
    system = np.vstack([basis, np.full((1, basis.shape[1]), hold)])
    weights, _ = nnls(system, np.append(target.astype(np.float64), hold))
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(predictions), 1 / len(predictions))


def mix(candidates: list[Candidate], target: np.ndarray, holdout: np.ndarray | None
        ) -> StructureMix:
    """The candidates mixed by the weights that best predict `target` (C, H, W) on `holdout`
    (H, W bool); equal weights without held-out pixels."""
    if holdout is None or any(c.on_holdout is None for c in candidates):
        weights = np.full(len(candidates), 1 / len(candidates))
    else:
        weights = mix_weights([c.on_holdout[:, holdout].ravel() for c in candidates],
                              target[:, holdout].ravel())
    values = sum(w * c.values for w, c in zip(weights, candidates, strict=True))
    return StructureMix(values.astype(np.float32),
                        {c.name: float(w) for c, w in zip(candidates, weights, strict=True)})


def classic_candidates(image: np.ndarray, unknown: np.ndarray, holdout: np.ndarray | None
                       ) -> list[Candidate]:
    """FSR and biharmonic fills of `unknown`, each also of `unknown | holdout`."""
    candidates = []
    for name, fill in (("fsr", fsr_fill), ("biharmonic", biharmonic_fill)):
        on_holdout = fill(image, unknown | holdout) if holdout is not None else None
        candidates.append(Candidate(name, fill(image, unknown), on_holdout))
    return candidates
