"""One job end to end: load the photo and its mask (or template), restore, write, and say what
happened in a typed JobResult. The CLI's `remove` and the batch workers both come through here."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from pipeline.core.fill.restore import Observers
from pipeline.core.geometry import box_around
from pipeline.core.mark.blend import Mark, recover
from pipeline.core.mark.placement import Placement, locate, place, threshold
from pipeline.core.mark.tiling import find_copies
from pipeline.core.separate.mask_route import remove_in_mask
from pipeline.errors import InputError, NoMarkFound, UnmarkWarning
from pipeline.io.imaging import (
    check_encodable,
    load_mask,
    load_picture,
    output_format,
    save_picture,
)
from pipeline.io.marks import load_mark, save_mark
from pipeline.io.paths import check_not_an_input, check_output
from pipeline.picture import Picture
from pipeline.settings import DipSettings, RunOptions
from pipeline.validation import check_settings


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
    fitted: int | None = None  # template jobs: pixels the network filled (0: the inverse did all)
    separation: str | None = None  # mask jobs: "separated", "inpainted" or both (by region)
    opacity: float | None = None  # mask jobs with separation on: the mark's estimated opacity
    mark: Mark | None = field(default=None, repr=False, compare=False)  # when separated

    def facts(self) -> dict:
        """What the ledger keeps about the job beyond its state."""
        facts: dict = {"placement": self.placement.as_dict()} if self.placement else {}
        if self.separation is not None:
            facts["separation"] = self.separation
        if self.opacity is not None:
            facts["opacity"] = round(self.opacity, 3)
        return facts


def check_output_path(job: Job) -> None:
    """The output's name, never one of the job's inputs (symlinks and hard links too)."""
    output_format(job.output)
    template = job.template if job.template != Path("auto") else None  # auto: learnt later
    check_not_an_input(job.output, [("image", job.image), ("mask", job.mask),
                                    ("template", template)])


def check_job(job: Job, settings: DipSettings) -> None:
    """Everything that can be checked before the inputs are decoded."""
    check_settings(settings)
    check_output(job.output)
    check_output_path(job)


def load_input(job: Job) -> Picture:
    """The job's photo, refused before any fitting if the network or the output cannot take it."""
    picture = load_picture(job.image)
    check_encodable(picture, job.output)
    return picture


def load_job(job: Job, settings: DipSettings | None = None) -> tuple[Picture, np.ndarray]:
    """Decode a mask job's inputs; raises InputError naming the file at fault."""
    picture = load_picture(job.image) if settings is None else load_input(job)
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
    check_job(job, settings)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnmarkWarning)
            mask_outcome = None
            if job.route is Route.TEMPLATE:
                output, placement, fitted = _remove_template(job, settings, runtime, observers)
            else:
                picture, hole = load_job(job, settings)
                mask_outcome = remove_in_mask(picture, hole, settings, runtime, observers)
                output = save_picture(mask_outcome.picture, job.output)
                placement, fitted = None, None
    finally:
        for warning in caught:  # passed on to whoever listens outside, failed job or not
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, UnmarkWarning))
    if mask_outcome is None:
        return JobResult(output, job.route, placement, notes, fitted)
    return JobResult(output, job.route, placement, notes, fitted, mask_outcome.route,
                     mask_outcome.opacity if settings.separate else None, mask_outcome.mark)


def save_estimated_mark(result: JobResult, path: Path) -> Path | None:
    """The mark a separated mask job estimated, as an RGBA template for --template (None when
    the mask was inpainted)."""
    if result.mark is None:
        return None
    box = box_around(result.mark.alpha > 0, 0)
    return save_mark(result.mark.cut(box), path)


def _remove_template(
    job: Job, settings: DipSettings, runtime: RunOptions, observers: Observers
) -> tuple[Path, Placement, int]:
    """Find the template in the job's image, and every further copy of a tiled mark; recover
    the photo under them, write the result; also say how many pixels the network had to fill
    (0: the exact inverse did it all).

    Raises NoMarkFound, writing nothing, when the mark is not there or the blend model does not
    confirm it where it was found: an image without the mark is never touched.
    """
    picture = load_input(job)
    mark = load_mark(job.template, channels=picture.pixels.shape[2])
    image = picture.as_float()
    placement = locate(mark, image, picture.lossy)
    needed = threshold(mark, picture.size)
    name = Path(job.template).name
    if placement.confidence < needed:
        raise NoMarkFound(
            f"{job.image}: watermark {name} not found (best match "
            f"{placement.confidence:.2f} < {needed}); the image was left untouched"
        )
    if placement.problem is not None:
        raise NoMarkFound(
            f"{job.image}: watermark {name} not found (best match at x={placement.left}, "
            f"y={placement.top}: {placement.problem}); the image was left untouched"
        )
    tiling = find_copies(mark, image, picture.lossy, placement)
    if len(tiling.copies) == 1:  # a single mark, placed as it always was
        full = place(mark, placement, picture.size)
    else:  # a tiled mark: refused copies are counted (a lone logo's refused guesses are not)
        full = tiling.mark(picture.size)
        placement = tiling.placement(placement)
    result = recover(picture, full, settings, runtime, observers)
    return save_picture(result.picture, job.output), placement, result.fitted
