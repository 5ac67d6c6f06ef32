"""pipeline/video_recover.py on its own: the background's motion read off the ring around a
mark, a fill carried while its ring stands still, the frames around one recovering it."""

from __future__ import annotations

import cv2
import numpy as np
from videokit import logo, panned

from pipeline.core.mark.blend import Mark
from pipeline.video_recover import FillCarry, _to_frame, motions, recover_frames

SIZE = (96, 160)


def test_motion_of_a_pan_is_read_off_the_ring_despite_a_fixed_mark():
    frames = panned("coffee", 40, SIZE, zoom=0.0)[:6]  # a pure pan: the same shift each frame
    alpha, _ = logo(SIZE, (40, 30), 100, 1.0)
    marked = np.where(alpha[None, ..., None] > 0.5, 255, frames).astype(np.uint8)
    greys = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in marked])
    ring = ~cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9))).astype(bool)
    maps = motions(greys, ring)
    # The window slides right and down over the photo (320x213 px, 0.6 photo px a frame px):
    # a point of frame k sat further right and lower in frame k-1.
    across, down = 0.3 * 320 / 39 / 0.6, 0.1 * 213 / 39 / 0.6
    assert np.allclose([m[0, 2] for m in maps[1:]], across, atol=0.15)
    assert np.allclose([m[1, 2] for m in maps[1:]], down, atol=0.15)
    assert np.allclose([m[:2, :2] for m in maps[1:]], np.eye(2), atol=0.01)
    assert np.allclose(_to_frame(maps, 3, 1), maps[2] @ maps[3])
    assert np.allclose(_to_frame(maps, 1, 3) @ _to_frame(maps, 3, 1), np.eye(3))


def test_fill_is_carried_while_its_ring_is_still_and_redone_when_it_moves():
    image = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
    unseen = np.zeros((40, 40), bool)
    unseen[15:25, 15:25] = True
    carry = FillCarry()
    first = carry.fill(image, unseen)
    again = carry.fill(image + 0.001, unseen)  # the codec's wobble: carried
    assert carry.refills == 1 and np.array_equal(first[:, unseen], again[:, unseen])
    carry.fill(np.roll(image, 3, axis=2), unseen)  # the background moved: filled afresh
    assert carry.refills == 2


def test_frames_around_recover_an_opaque_mark_over_a_pan():
    clean = panned("chelsea", 9, SIZE)
    alpha, colour = logo(SIZE, (50, 30), 100, 1.0)
    a = alpha[None, ..., None]
    marked = np.round(a * colour[None] * 255 + (1 - a) * clean).astype(np.uint8)
    mark = Mark(alpha.astype(np.float32), colour.transpose(2, 0, 1).astype(np.float32))
    recovered = recover_frames(marked, mark, range(4, 5), FillCarry())[0]
    hole = alpha >= 0.95
    error = np.abs(recovered[hole].astype(float) - clean[4][hole]).mean()
    assert error < 4  # levels of 255; the marked frame is off by ~100 there
    assert np.array_equal(recovered[alpha == 0], marked[4][alpha == 0])
