"""The texture stage of a mask-mode fill: broad shapes from a structure fill, fine detail from an
exemplar fill.

A fill that minimises squared error is a smudge: the mean of every texture that could be there.
An exemplar fill (patches copied from around the hole) has the right kind of detail but copies
broad shapes and colours from wherever its patches came from. Split both at `sigma`: the low band
comes from the structure fill (the network's, mixed on held-out pixels with the exemplar's own low
band where that predicts better: squared error is a fair judge of a band without texture), the
high band from the exemplar, scaled so the fill carries as much detail as the pixels around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.fill.exemplar import exemplar_fill
from pipeline.core.fill.holdout import best_share

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
RING_INNER, RING_OUTER = 3, 12  # the band around the hole whose detail the fill should match
GAIN_LIMITS = (0.5, 1.5)
DETAIL_SIGMA = 1.5  # how "detail" is measured (the bench's detail ratio uses the same)


@dataclass(frozen=True)
class StructureFill:
    """The structure fill over the crop, and what it predicted for the held-out pixels."""

    values: np.ndarray  # (C, H, W): known pixels as they are, the hole filled
    on_holdout: np.ndarray | None  # (C, H, W): as `values`, the held-out pixels predicted too


def lowpass(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([ndimage.gaussian_filter(channel, sigma) for channel in image])


def detail_energy(image: np.ndarray, where: np.ndarray) -> float:
    """Spread of the fine detail (grey minus its blur at DETAIL_SIGMA) over `where`."""
    grey = _grey(image)
    fine = grey - ndimage.gaussian_filter(grey, DETAIL_SIGMA)
    return float(fine[where].std()) if where.any() else 0.0


def detail_gain(target: np.ndarray, exemplar: np.ndarray, unknown: np.ndarray,
                inside: np.ndarray) -> float:
    """How much to scale the exemplar's detail so the hole matches the ring around it."""
    ring = ndimage.binary_dilation(unknown, iterations=RING_OUTER)
    ring &= ~ndimage.binary_dilation(unknown, iterations=RING_INNER) & inside
    fill_energy = detail_energy(exemplar, unknown)
    if fill_energy <= 1e-6 or not ring.any():
        return 1.0
    return float(np.clip(detail_energy(target, ring) / fill_energy, *GAIN_LIMITS))


def add_texture(
    structure: StructureFill,
    target: np.ndarray,
    unknown: np.ndarray,
    inside: np.ndarray,
    holdout: np.ndarray | None,
    sigma: float,
    seed: int,
) -> np.ndarray:
    """The crop (C, H, W) with the hole refilled: structure's low band + exemplar's detail.
    `inside` (H, W) is False on padding, which is neither filled nor copied from."""
    padding = ~inside
    exemplar = exemplar_fill(target, unknown, seed, padding)
    base = lowpass(structure.values, sigma)
    if holdout is not None and structure.on_holdout is not None:
        exemplar_on_holdout = exemplar_fill(target, unknown | holdout, seed, padding)
        share = best_share(  # judged against the known pixels, the hole as the structure has it
            lowpass(structure.on_holdout, sigma),
            lowpass(exemplar_on_holdout, sigma),
            lowpass(structure.values, sigma),
            holdout,
        )
        base = (1 - share) * base + share * lowpass(exemplar, sigma)
    detail = exemplar - lowpass(exemplar, sigma)
    gain = detail_gain(target, exemplar, unknown, inside)
    return np.clip(base + gain * detail, 0, 1).astype(np.float32)


DETAIL_CLIP = 2.0  # exemplar detail is clipped at this many times the ring's RMS detail
# The clipped detail may be scaled up to this to reach the ring's level: at 1.0 the fills of
# the bench's cases carried 0.77 of the truth's detail (a smudge), at 1.5 0.84, false edges
# alike; on 6 photos with a painted text mask 1.25 kept most of that (detail 0.81 -> 0.88,
# 1.5: 0.91) at half the cost in HaarPSI (-0.0015; 1.5: -0.003).
# Deeper than NEAR_BORDER px into a hole the patches come from farther away and may belong to
# something else: there 1.5x embossed copied shapes over a 600 px wide hole (strong edges
# where the truth has none: 0.26 -> 4.2 per 1000), so their detail is not amplified.
TOP_UP_GAIN_LIMIT = 1.25
DEEP_GAIN_LIMIT = 1.0
NEAR_BORDER = 48


def top_up_detail(
    base: np.ndarray, exemplar: np.ndarray, target: np.ndarray, unknown: np.ndarray,
    inside: np.ndarray, sigma: float,
) -> np.ndarray:
    """`base` (C, H, W) with the fine detail of `exemplar` (an exemplar fill of the same hole)
    added in the hole: only as much as the ring around the hole has and `base` lacks (energies
    of uncorrelated detail add), each pixel's detail clipped at DETAIL_CLIP x the ring's RMS, so
    a patch copied across an edge cannot draw that edge in the fill (a lattice, an outline)."""
    detail = exemplar - lowpass(exemplar, sigma)
    ring = ndimage.binary_dilation(unknown, iterations=RING_OUTER)
    ring &= ~ndimage.binary_dilation(unknown, iterations=RING_INNER) & inside
    if not ring.any():
        return base
    ring_detail = _grey(target - lowpass(target, sigma))[ring]
    limit = DETAIL_CLIP * float(np.sqrt((ring_detail**2).mean()))
    magnitude = np.abs(_grey(detail))
    detail = detail * np.minimum(1.0, limit / np.maximum(magnitude, 1e-6))[None]
    lacking = float(ring_detail.std()) ** 2 - detail_energy(base, unknown) ** 2
    spread = float(_grey(detail)[unknown].std())
    if lacking <= 0 or spread <= 1e-6:
        return base
    wanted = float(np.sqrt(lacking)) / spread
    gain = np.full(unknown.shape, min(wanted, TOP_UP_GAIN_LIMIT), dtype=np.float32)
    gain[ndimage.distance_transform_edt(unknown) > NEAR_BORDER] = min(wanted, DEEP_GAIN_LIMIT)
    filled = np.where(unknown[None], base + gain[None] * detail, base)
    return np.clip(filled, 0, 1).astype(np.float32)


def _grey(image: np.ndarray) -> np.ndarray:
    return image[0] if image.shape[0] == 1 else np.tensordot(LUMA, image[:3], axes=1)
