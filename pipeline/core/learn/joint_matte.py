"""A folder's mark refined jointly across its photos (after Dekel et al., CVPR 2017: multi-image
matting with the photos' gradients sparse).

The first estimate (estimate.py) reads the opacity per pixel off a fill of the photo under
the mark, whose errors leave the mark's outline behind. Here the opacity map is the one that makes
every photo, un-blended with it, as free of jumps as possible: sum over photos and pixels of
|grad I_n|^0.8, I_n = (J_n - a W) / (1 - a). A photo's own edges differ from photo to photo and
cannot all be explained by one map; the mark's edges are the same in each and vanish only under
the right one. On the shipped stock previews (3 photos) the removal went from 20.6 / 22.5 /
23.1 dB to 30.3 / 29.7 / 30.8 dB over the mark.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import VISIBLE, Mark

STEPS = 300
LEARNING_RATE = 0.05
SPARSITY = 0.8  # the exponent on gradient magnitudes: below 1 favours few, strong edges
SMOOTH = 0.01  # keeps the exponent differentiable at zero
GROW = 2  # px the opacity may spread beyond the first estimate's footprint
MAX_OPACITY = 0.9  # the inverse's 1 / (1 - a) beyond this is all noise
# The opacity may live only near pixels the first estimate was sure of (a quarter of its peak):
# its faint fringe is where a photo's own structure leaks in.
CONFIDENT = 0.25
# Photos x box pixels beyond which the refinement is skipped (its autograd graph takes about
# 100 bytes a value: 8e6 is under a gigabyte and a minute on 2 cores); the first estimate stays.
MAX_VALUES = 8_000_000
ONE_COLOUR = 0.1  # a quarter of the mark this far from its median colour: many-coloured, left as is


def _sparsity(photos: torch.Tensor) -> torch.Tensor:
    across = photos[..., :, 1:] - photos[..., :, :-1]
    down = photos[..., 1:, :] - photos[..., :-1, :]
    return (((across**2 + SMOOTH**2) ** (SPARSITY / 2)).sum()
            + ((down**2 + SMOOTH**2) ** (SPARSITY / 2)).sum())


def refine_matte(images: np.ndarray, mark: Mark) -> Mark:
    """`images` (N, C, H, W) floats sharing `mark` (full size) -> the mark with its opacity
    refined; a many-coloured or empty mark is returned as it is."""
    footprint = mark.alpha > 0
    if not footprint.any():
        return mark
    colours = mark.colour[:, footprint]
    colour = np.median(colours, axis=1)
    if np.quantile(np.abs(colours - colour[:, None]).max(axis=0), 0.75) > ONE_COLOUR:
        return mark
    confident = mark.alpha >= CONFIDENT * mark.alpha.max()
    free = ndimage.binary_dilation(confident, iterations=GROW)
    box = box_around(free, 3)
    if len(images) * box.cut(free).size > MAX_VALUES:
        return mark
    window = box.cut(images)
    observed = torch.from_numpy(np.ascontiguousarray(window, np.float32))
    paint = torch.from_numpy(colour.astype(np.float32)).view(1, -1, 1, 1)
    allowed = torch.from_numpy(box.cut(free))
    start = torch.from_numpy(box.cut(mark.alpha) / MAX_OPACITY).clamp(1e-3, 0.999)
    logits = torch.logit(start).requires_grad_(True)
    optimiser = torch.optim.Adam([logits], lr=LEARNING_RATE)

    def opacity() -> torch.Tensor:
        return torch.where(allowed, torch.sigmoid(logits) * MAX_OPACITY, torch.zeros(()))

    for _ in range(STEPS):
        alpha = opacity()
        loss = _sparsity((observed - alpha * paint) / (1 - alpha))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    alpha = np.zeros_like(mark.alpha)
    alpha[box.slices] = opacity().detach().numpy()
    alpha[alpha < VISIBLE] = 0
    painted = np.broadcast_to(colour[:, None, None], mark.colour.shape) * (alpha > 0)
    return Mark(alpha=alpha.astype(np.float32), colour=painted.astype(np.float32))
