"""Is a placed mark really in a clip? The blend model's verdict (core/verify.py) on sampled
frames, with the mark's near-opaque part judged apart.

In a lossy 4:2:0 video the error around a static mark is static too (the colour planes are
blurred the same way in every frame), and the inverse (J - aW) / (1 - a) amplifies it by
1 / (1 - a): it left [0, 1] for half the pixels of a real logo of peak opacity 1 on a test clip
(7% once pixels from a = 0.8 up were judged apart, none from 0.6 up), and no number of frames
averages it away. There the blend model can only say that the
observed pixel lies in the range aW + (1 - a) * [0, 1], which a photo without the mark rarely
does under a bright or dark logo; the rest of the mark is verified as in a photo, with the
near-opaque pixels set to what the model predicts from a fill of the photo around them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pipeline.core.fill.structure import classic_fill
from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import VISIBLE, Mark, raw_inverse
from pipeline.core.mark.verify import verify

CHECK_MARGIN = 16  # px around the mark where a sampled frame is checked
CONFIRMED_SHARE = 0.5  # of sampled frames that may refuse a mark the others confirm
STEADY = 0.6  # opacity from which a pixel is judged by the model's range only
OFF_RANGE = 24 / 255  # how far outside that range an observed pixel may lie (codec error)
MAX_OFF_SHARE = 0.25  # of the near-opaque pixels that may lie that far outside


def _off_range(image: np.ndarray, mark: Mark, steady: np.ndarray) -> float:
    """Share of the `steady` pixels whose observed value lies outside aW + (1-a) * [0, 1]."""
    raw = raw_inverse(image, mark)[:, steady]
    distance = np.abs(raw - np.clip(raw, 0, 1)).max(axis=0) * (1 - mark.alpha[steady])
    return float((distance > OFF_RANGE).mean())


def _modelled(image: np.ndarray, mark: Mark, steady: np.ndarray) -> np.ndarray:
    """`image` with its `steady` pixels replaced by the blend of the mark over a classic fill of
    the photo recovered around them."""
    photo = classic_fill(np.clip(raw_inverse(image, mark), 0, 1), steady)
    alpha = mark.alpha[None]
    blended = alpha * mark.colour + (1 - alpha) * photo
    return np.where(steady[None], blended, image).astype(np.float32)


def frame_problem(mark: Mark, image: np.ndarray) -> str | None:
    """Why the blend model refuses `mark` on one frame's window `image` (C, h, w), or None."""
    steady = mark.alpha >= STEADY
    if steady.any():
        share = _off_range(image, mark, steady)
        if share > MAX_OFF_SHARE:
            return (f"{share:.0%} of the pixels under its opaque part lie outside what its "
                    "colour allows")
        image = _modelled(image, mark, steady)
    return verify(mark, image, lossy=True).problem


def confirmed_on_frames(mark: Mark, samples: np.ndarray) -> str | None:
    """None when the blend model confirms the placed full-frame `mark` on most of the sampled
    frames (N, H, W, 3) uint8, else the most common reason it does not."""
    window = box_around(mark.alpha > VISIBLE, CHECK_MARGIN).slices
    local = Mark(mark.alpha[window], mark.colour[(slice(None), *window)])
    problems = [frame_problem(local, frame[window].astype(np.float32).transpose(2, 0, 1) / 255)
                for frame in samples]
    refused = [p for p in problems if p is not None]
    if len(refused) <= CONFIRMED_SHARE * len(problems):
        return None
    common = Counter(p.split(" (")[0] for p in refused).most_common(1)[0][0]
    return f"{common} on {len(refused)} of {len(problems)} sampled frames"
