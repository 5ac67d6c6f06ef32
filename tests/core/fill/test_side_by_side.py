"""Crops of the classic fill filled side by side: the same pixels as one at a time."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
from conftest import sample_photo

from pipeline.core.fill.restore import restore
from pipeline.core.fill.side_by_side import ordered_map
from pipeline.picture import Picture
from pipeline.settings import DEFAULT


def test_results_come_in_order_with_at_most_threads_in_flight():
    running, most = 0, 0
    lock = threading.Lock()

    def work(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02 * (5 - item % 5))  # early items finish last
        with lock:
            running -= 1
        return item * item

    assert list(ordered_map(work, range(12), threads=3)) == [i * i for i in range(12)]
    assert most <= 3
    assert list(ordered_map(work, range(4), threads=1)) == [0, 1, 4, 9]


def test_crops_filled_side_by_side_give_the_pixels_of_one_at_a_time():
    photo = np.asarray(sample_photo("astronaut", (320, 240)))
    hole = np.zeros(photo.shape[:2], dtype=bool)
    for top, left in ((20, 20), (20, 220), (150, 40), (150, 230)):  # four crops of their own
        hole[top:top + 30, left:left + 50] = True
    picture = Picture(pixels=photo, mode="RGB", source="four")
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        alone = restore(picture, hole, DEFAULT).pixels
        cv2.setNumThreads(2)
        together = restore(picture, hole, DEFAULT).pixels
    finally:
        cv2.setNumThreads(before)
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(together[~hole], photo[~hole])
