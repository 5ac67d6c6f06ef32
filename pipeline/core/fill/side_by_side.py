"""Crops filled at the same time on the process's threads, results in their order.

A fill that fits no network spends its time in FSR, PatchMatch and sparse solves, which release
the GIL, and each crop reads only the original pixels: threads fill crops side by side without
changing a pixel. At most `threads` crops are in flight, so memory stays a few crops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import cv2

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(work: Callable[[Item], Result], items: Iterable[Item], threads: int
                ) -> Iterator[Result]:
    """`work` of each item, in the items' order, `threads` at a time."""
    if threads <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future[Result]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def process_threads() -> int:
    """The threads this process was given (`--threads`, or its share of the cores)."""
    return max(1, cv2.getNumThreads())
