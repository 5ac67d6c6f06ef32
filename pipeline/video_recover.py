"""The photo under a fixed mark, frame by frame, helped by the other frames.

The closed-form inverse (J - aW) / (1 - a) of one frame amplifies the codec's error by
1 / (1 - a), and knows nothing under opaque pixels. Where the background moves, the frames
around show the same scene point under less of the mark, or beside it: their pixels, aligned by
the background's motion (an affine map per frame pair, fitted to the optical flow of the ring
around the mark, the mark itself excluded), are averaged with the frame's own inverse by inverse
variance (the inverse's variance grows as 1 / (1 - a)^2), a robust second pass dropping those the
alignment got wrong. Pixels no frame around shows (a still background under an opaque mark) get
a classic fill, made once and carried while the ring of pixels around them does not change, so
that it does not flicker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from pipeline.core.fill.structure import classic_fill
from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import OPAQUE, VISIBLE, Mark

RADIUS = 4  # frames either side that help recover a frame
MOTION_MARGIN = 24  # px of ring around the mark's box the background's motion is read from
NOISE = 2 / 255  # the codec's error in a decoded frame (lossy video: at least JPEG q90's)
MISALIGNED = 3.0  # a frame whose aligned pixel is this many noise sigmas off is not trusted
SEEN = 0.05  # total weight below which a pixel counts as not shown by any frame
RING_STILL = 1.5 / 255  # mean ring change under which a carried fill stays
CORNERS = 300  # ring corners tracked from frame to frame
MIN_POINTS = 12  # tracked corners an affine map needs
INNER_MARGIN = 4  # px around the mark's box that are fused (the fill's ring among them)


@dataclass(frozen=True)
class ClipMark:
    """The mark of a whole clip, at its place: opacity and colour over the frame, and the window
    (the mark's box with a ring around it) where frames are worked on."""

    mark: Mark  # full-frame (H, W) opacity, (3, H, W) colour
    window: tuple[slice, slice]

    @classmethod
    def around(cls, mark: Mark) -> ClipMark:
        return cls(mark, box_around(mark.alpha > VISIBLE, MOTION_MARGIN).slices)

    @property
    def local(self) -> Mark:
        rows, cols = self.window
        return Mark(self.mark.alpha[rows, cols], self.mark.colour[:, rows, cols])


def _affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 affine map taking `source` points (P, 2) onto `target`, robust to outliers
    (the identity with too few points)."""
    identity = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    if len(source) < MIN_POINTS:
        return identity
    matrix, _ = cv2.estimateAffine2D(source, target, method=cv2.RANSAC,
                                     ransacReprojThreshold=1.0)
    return identity if matrix is None else matrix


def motions(greys: np.ndarray, ring: np.ndarray) -> list[np.ndarray]:
    """For greys (N, h, w) uint8 windows: 3x3 maps from frame k's coordinates into frame
    k-1's, for k = 1..N-1 (frame 0's entry is the identity): corners of the ring tracked by
    pyramidal Lucas-Kanade (a few hundred points: cheaper than a dense flow of the window, and
    as exact once an affine map is fitted to them)."""
    maps = [np.eye(3)]
    mask = ring.astype(np.uint8)
    for k in range(1, len(greys)):
        corners = cv2.goodFeaturesToTrack(greys[k], CORNERS, 0.01, 3, mask=mask)
        matrix = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
        if corners is not None and len(corners) >= MIN_POINTS:
            moved, found, _ = cv2.calcOpticalFlowPyrLK(greys[k], greys[k - 1], corners, None,
                                                       winSize=(15, 15), maxLevel=2)
            kept = found[:, 0] == 1
            matrix = _affine(corners[kept, 0], moved[kept, 0])
        maps.append(np.vstack([matrix, [0, 0, 1]]))
    return maps


def _to_frame(maps: list[np.ndarray], target: int, source: int) -> np.ndarray:
    """The map from frame `target`'s coordinates into frame `source`'s."""
    chain = np.eye(3)
    if source < target:
        for k in range(target, source, -1):
            chain = maps[k] @ chain
    else:
        for k in range(target + 1, source + 1):
            chain = np.linalg.inv(maps[k]) @ chain
    return chain


@dataclass
class FillCarry:
    """The classic fill of pixels no frame shows, kept while the ring around them is still."""

    unseen: np.ndarray | None = None
    ring: np.ndarray | None = None
    values: np.ndarray | None = None
    refills: int = 0
    reused: int = field(default=0)

    def fill(self, image: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        """`image` (3, h, w) with its `unseen` (h, w) pixels filled."""
        ring = ndimage.binary_dilation(unseen, iterations=3) & ~unseen
        same = (self.unseen is not None and np.array_equal(self.unseen, unseen)
                and np.abs(image[:, ring] - self.ring).mean() < RING_STILL)
        if not same:
            self.values = classic_fill(image, unseen)[:, unseen]
            self.unseen, self.ring = unseen, image[:, ring]
            self.refills += 1
        else:
            self.reused += 1
        filled = image.copy()
        filled[:, unseen] = self.values
        return filled


def _warp(image: np.ndarray, chain: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, K) float32 sampled at chain(p) for every pixel p of a (h, w) canvas; NaN outside."""
    return cv2.warpAffine(image, chain[:2], (size[1], size[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan,) * 4)


def _shift(top: int, left: int) -> np.ndarray:
    return np.array([[1, 0, left], [0, 1, top], [0, 0, 1]], np.float64)


def recover_frames(windows: np.ndarray, mark: Mark, targets: range, carry: FillCarry,
                   radius: int = RADIUS) -> np.ndarray:
    """windows (N, h, w, 3) uint8 crops of consecutive frames, `mark` the mark on the crop:
    the recovered crops (len(targets), h, w, 3) uint8 of the frames in `targets` (indices into
    `windows`; the others only help)."""
    footprint = mark.alpha > VISIBLE
    ring = ~ndimage.binary_dilation(footprint, iterations=4)
    maps = motions(np.stack([cv2.cvtColor(w, cv2.COLOR_RGB2GRAY) for w in windows]), ring)
    # Frames are fused only on the mark's box (and a few px for the fill's ring), not the ring
    # the motion is read from.
    inner = box_around(footprint, INNER_MARGIN).slices
    size = (inner[0].stop - inner[0].start, inner[1].stop - inner[1].start)
    offset = _shift(inner[0].start, inner[1].start)
    alpha = np.minimum(mark.alpha, OPAQUE)
    frames = windows.astype(np.float32) / 255
    inverse = (frames - alpha[None, ..., None] * mark.colour.transpose(1, 2, 0)[None]) \
        / (1 - alpha[None, ..., None])
    keep = np.where(mark.alpha >= OPAQUE, 0.0, (1 - alpha) ** 2).astype(np.float32)
    stacked = np.concatenate([inverse, np.broadcast_to(keep[None, ..., None],
                                                       (*inverse.shape[:3], 1))], axis=3)
    # Opaque pixels hold nothing of the photo: NaN, so that no aligned pixel interpolates them.
    stacked[:, mark.alpha >= OPAQUE] = np.nan
    recovered = windows[targets.start:targets.stop].copy()
    for number, target in enumerate(targets):
        sources = range(max(0, target - radius), min(len(frames), target + radius + 1))
        warped = np.stack([_warp(stacked[s], _to_frame(maps, target, s) @ offset, size)
                           for s in sources])
        unknown = np.isnan(warped[..., 3])
        warped[unknown] = 0
        fused = _fuse(warped[..., :3], warped[..., 3])
        recovered[number][inner] = _finish(fused, frames[target][inner], footprint[inner],
                                           carry)
    return recovered


def _fuse(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values (S, h, w, 3), weights (S, h, w) -> (h, w, 4): the robust inverse-variance mean
    and, in the last channel, the weight behind it."""
    total = weights.sum(axis=0)
    first = (weights[..., None] * values).sum(axis=0) / np.maximum(total, 1e-6)[..., None]
    distance = np.abs(values - first[None]).mean(axis=3)
    distance = np.stack([cv2.blur(d, (3, 3)) for d in distance])
    spread = MISALIGNED * NOISE / np.sqrt(np.maximum(weights, 1e-3)) + NOISE
    trusted = weights * np.exp(-0.5 * (distance / spread) ** 2)
    kept = trusted.sum(axis=0)
    mean = (trusted[..., None] * values).sum(axis=0) / np.maximum(kept, 1e-6)[..., None]
    mean = np.where((kept > 1e-3)[..., None], mean, first)  # no frame agrees: the plain mean
    return np.concatenate([mean, total[..., None]], axis=2)


def _finish(fused: np.ndarray, frame: np.ndarray, footprint: np.ndarray,
            carry: FillCarry) -> np.ndarray:
    """The frame's crop with its footprint replaced by the fused values; unseen pixels filled."""
    image = frame.copy()
    image[footprint] = np.clip(fused[footprint, :3], 0, 1)
    unseen = footprint & (fused[..., 3] < SEEN)
    if unseen.any():
        image = carry.fill(image.transpose(2, 0, 1), unseen).transpose(1, 2, 0)
    return (image * 255).round().astype(np.uint8)
