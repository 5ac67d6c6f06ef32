"""One job end to end: load the photo and its mask (or template), restore, write, and say what
happened in a typed JobResult. The CLI's `remove` and the batch workers both come through here."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from pipeline.core.blend import remove_with_mark
from pipeline.core.placement import Placement, locate, place, threshold
from pipeline.core.restore import Observers, restore
from pipeline.errors import InputError, NoMarkFound
from pipeline.io.imaging import (
    Picture,
    UnmarkWarning,
    load_mask,
    load_picture,
    output_format,
    save_picture,
)
from pipeline.io.marks import load_mark
from pipeline.settings import DipSettings, RunOptions


class Route(str, Enum):
    """How a job finds what to remove."""

    MASK = "mask"
    TEMPLATE = "template"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Job:
    image: Path
    output: Path
    mask: Path | None = None
    template: Path | None = None
    invert_mask: bool = False

    @property
    def route(self) -> Route:
        return Route.TEMPLATE if self.template is not None else Route.MASK


@dataclass(frozen=True)
class JobResult:
    output: Path  # written, renamed into place
    route: Route
    placement: Placement | None = None  # template jobs: where the mark was found
    warnings: tuple[str, ...] = ()  # what the job warned about (each also raised as it came)

    def facts(self) -> dict:
        """What the ledger keeps about the job beyond its state."""
        return {"placement": self.placement.as_dict()} if self.placement else {}


def check_output_path(job: Job) -> None:
    output_format(job.output)
    if job.output.resolve() == job.image.resolve():
        raise InputError(f"{job.output}: refusing to overwrite the input image")


def load_job(job: Job) -> tuple[Picture, np.ndarray]:
    """Decode a mask job's inputs; raises InputError naming the file at fault."""
    picture = load_picture(job.image)
    if job.mask is None:
        raise InputError(f"{job.image}: no mask given")
    hole = load_mask(job.mask, picture.size, invert=job.invert_mask)
    return picture, hole


def run_job(
    job: Job,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    observers: Observers = Observers(),
) -> JobResult:
    check_output_path(job)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnmarkWarning)
            if job.route is Route.TEMPLATE:
                output, placement = _remove_template(job, settings, runtime, observers)
            else:
                picture, hole = load_job(job)
                result = restore(picture, hole, settings, runtime, observers)
                output, placement = save_picture(result, job.output), None
    finally:
        for warning in caught:  # passed on to whoever listens outside, failed job or not
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, UnmarkWarning))
    return JobResult(output, job.route, placement, notes)


def _remove_template(
    job: Job, settings: DipSettings, runtime: RunOptions, observers: Observers
) -> tuple[Path, Placement]:
    """Find the template in the job's image, recover the photo under it, write the result.

    Raises NoMarkFound, writing nothing, when the mark is not there: an image without the mark
    is never touched.
    """
    picture = load_picture(job.image)
    mark = load_mark(job.template, channels=picture.pixels.shape[2])
    placement = locate(mark, picture.as_float())
    needed = threshold(mark, picture.size)
    if placement.confidence < needed:
        raise NoMarkFound(
            f"{job.image}: watermark {Path(job.template).name} not found (best match "
            f"{placement.confidence:.2f} < {needed}); the image was left untouched"
        )
    full = place(mark, placement, picture.size)
    result = remove_with_mark(picture, full, settings, runtime, observers)
    return save_picture(result, job.output), placement
