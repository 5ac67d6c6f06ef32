"""What people see, in numbers: HaarPSI and GMSD (the formulas of `piq`, reimplemented in numpy
because piq needs torchvision, which would replace the CPU torch here; they agree with piq 0.8.0 to
1e-7 on the ground-truth cases), the detail ratio, and hole PSNR.

Images are (C, H, W) floats in [0, 1]; the perceptual scores are taken on the hole's bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import convolve2d

from pipeline.core.fill.texture import detail_energy

YIQ = np.array([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])
HAARPSI_C, HAARPSI_ALPHA = 30.0, 4.2
GMSD_T = 170 / 255.0**2


@dataclass(frozen=True)
class Quality:
    psnr: float  # dB over the hole
    haarpsi: float  # 1 = identical
    gmsd: float  # 0 = identical
    detail: float  # the fill's fine detail / the truth's; ~0.2-0.3 a smudge, 1 as much as truth
    spurious: float  # strong edges per 1000 hole pixels where the truth has none within 2 px


def measure(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> Quality:
    rows, cols = bounding_box(hole)
    return Quality(
        psnr=hole_psnr(result, truth, hole),
        haarpsi=haarpsi(result[:, rows, cols], truth[:, rows, cols]),
        gmsd=gmsd(result[:, rows, cols], truth[:, rows, cols]),
        detail=detail(result, hole) / max(detail(truth, hole), 1e-8),
        spurious=spurious_edges(result, truth, hole),
    )


def edge_strength(image: np.ndarray) -> np.ndarray:
    """Sobel magnitude of the grey image blurred at 0.7 px."""
    grey = ndimage.gaussian_filter(_luma(image).astype(np.float64), 0.7)
    return np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))


def spurious_edges(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Hole pixels (per 1000) whose edge strength exceeds the truth's 90th percentile in the hole
    where the truth has no edge above half that within 2 px: copied structures and ghosts."""
    truth_edges, result_edges = edge_strength(truth), edge_strength(result)
    strong = np.percentile(truth_edges[hole], 90)
    truth_near = ndimage.maximum_filter(truth_edges, size=5) > strong / 2
    foreign = hole & (result_edges > strong) & ~truth_near
    return float(1000 * foreign.sum() / max(int(hole.sum()), 1))


def bounding_box(hole: np.ndarray) -> tuple[slice, slice]:
    ys, xs = np.nonzero(hole)
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


def hole_psnr(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    error = (result.astype(np.float64) - truth)[:, hole]
    return float(10 * np.log10(1 / max(float((error**2).mean()), 1e-12)))


def detail(image: np.ndarray, hole: np.ndarray) -> float:
    """Spread over the hole of grey minus its Gaussian blur (sigma 1.5); the texture stage
    matches its fill to this same measure."""
    return detail_energy(image, hole)


def haarpsi(result: np.ndarray, truth: np.ndarray) -> float:
    """Reisenhofer et al. 2018, as piq computes it (subsampled, 3 Haar scales, YIQ)."""
    x = _to_yiq(_halve(_as_rgb(result) * 255.0))
    y = _to_yiq(_halve(_as_rgb(truth) * 255.0))
    coeff_x, coeff_y = _haar(x[0]), _haar(y[0])
    weights = [np.maximum(abs(coeff_x[4 + o]), abs(coeff_y[4 + o])) for o in range(2)]
    maps = [
        (_similar(abs(coeff_x[o]), abs(coeff_y[o]), HAARPSI_C)
         + _similar(abs(coeff_x[o + 2]), abs(coeff_y[o + 2]), HAARPSI_C)) / 2
        for o in range(2)
    ]
    chroma_x, chroma_y = abs(_mean2x2(x[1:])), abs(_mean2x2(y[1:]))
    weights.append((weights[0] + weights[1]) / 2)
    maps.append(sum(_similar(chroma_x[i], chroma_y[i], HAARPSI_C) for i in range(2)) / 2)
    similarity, weight = np.stack(maps), np.stack(weights)
    eps = np.finfo(np.float32).eps
    logistic = 1 / (1 + np.exp(-HAARPSI_ALPHA * similarity))
    score = ((logistic * weight).sum() + eps) / (weight.sum() + eps)
    return float((np.log(score / (1 - score)) / HAARPSI_ALPHA) ** 2)


def gmsd(result: np.ndarray, truth: np.ndarray) -> float:
    """Xue et al. 2014, as piq computes it (luma, subsampled, Prewitt gradients)."""
    x = _halve(_luma(_as_rgb(result), YIQ[0])[None])[0]
    y = _halve(_luma(_as_rgb(truth), YIQ[0])[None])[0]
    similarity = _similar(_gradient(x), _gradient(y), GMSD_T)
    return float(np.sqrt(((similarity - similarity.mean()) ** 2).mean()))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image[:3]


def _luma(image: np.ndarray, weights: np.ndarray = YIQ[0]) -> np.ndarray:
    return _as_rgb(image)[0] if image.shape[0] == 1 else np.tensordot(weights, image[:3], axes=1)


def _to_yiq(image: np.ndarray) -> np.ndarray:
    return np.tensordot(YIQ, image, axes=1)


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 mean with stride 2, zero-padded at the bottom/right when odd (as piq pads)."""
    pad = max(image.shape[1] % 2, image.shape[2] % 2)
    image = np.pad(image, ((0, 0), (0, pad), (0, pad)))
    c, h, w = image.shape[0], image.shape[1] // 2, image.shape[2] // 2
    return image[:, : 2 * h, : 2 * w].reshape(c, h, 2, w, 2).mean(axis=(2, 4))


def _mean2x2(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, ((0, 0), (0, 1), (0, 1)))
    return (padded[:, :-1, :-1] + padded[:, 1:, :-1] + padded[:, :-1, 1:] + padded[:, 1:, 1:]) / 4


def _correlate(image: np.ndarray, kernel: np.ndarray, before: int, after: int) -> np.ndarray:
    padded = np.pad(image, ((before, after), (before, after)))
    return convolve2d(padded, kernel[::-1, ::-1], mode="valid")


def _haar(luma: np.ndarray) -> list[np.ndarray]:
    """Horizontal and vertical Haar coefficients at scales 2, 4, 8 (in that order)."""
    coefficients = []
    for scale in range(3):
        size = 2 ** (scale + 1)
        kernel = np.ones((size, size)) / size
        kernel[size // 2 :, :] *= -1
        for oriented in (kernel, kernel.T):
            coefficients.append(_correlate(luma, oriented, size // 2 - 1, size // 2))
    return coefficients


def _gradient(luma: np.ndarray) -> np.ndarray:
    prewitt = np.array([[-1.0, 0, 1]] * 3) / 3
    gx, gy = _correlate(luma, prewitt, 1, 1), _correlate(luma, prewitt.T, 1, 1)
    return np.sqrt(gx**2 + gy**2 + 1e-12)


def _similar(a: np.ndarray, b: np.ndarray, constant: float) -> np.ndarray:
    return (2 * a * b + constant) / (a * a + b * b + constant)
