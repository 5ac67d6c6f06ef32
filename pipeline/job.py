"""One job end to end: load the photo and its mask (or template), restore, write, and say what
happened in a typed JobResult. The CLI's `remove` and the batch workers both come through here."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import InputError, NoMarkFound, UnmarkWarning
from pipeline.io.imaging import (
    check_encodable,
    load_mask,
    load_picture,
    output_format,
    save_picture,
)
from pipeline.io.paths import check_not_an_input, check_output
from pipeline.io.snapshots import SnapshotFolder
from pipeline.picture import Picture
from pipeline.settings import DipSettings, RunOptions
from pipeline.validation import check_settings

FULL_COVER = 0.98  # above this share of the image masked, nothing is left to learn from
LOOKS_INVERTED = 0.5  # above this share, the mask is likely black-and-white swapped
COVER_NOTE = "the mask covers"
NEXT_STEP = ("If the mark is there, give its exact template (the mark's colour and opacity) or "
             "paint a mask over it")

if TYPE_CHECKING:  # the maths (and torch) load only when a job runs: `status` never needs them
    from pipeline.core.fill.restore import Observers
    from pipeline.core.mark.blend import Mark
    from pipeline.core.mark.placement import Placement


class Route(str, Enum):
    """How a job finds what to remove."""

    MASK = "mask"
    TEMPLATE = "template"

    def __str__(self) -> str:
        return self.value


class Template(Enum):
    """A template that is not a file: learnt from the manifest entry's own photos."""

    AUTO = "auto"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Job:
    image: Path
    output: Path
    mask: Path | None = None
    template: Path | Template | None = None  # Template.AUTO until the batch has learnt it
    invert_mask: bool = False
    template_name: str | None = None  # how messages name the template (default: its file's)

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
    steps: int = 0  # optimiser steps its fits ran (0: no network ran; early stops count true)


def check_output_path(job: Job) -> None:
    """The output's name, never one of the job's inputs (symlinks and hard links too)."""
    output_format(job.output)
    check_not_an_input(job.output, _inputs(job))  # an auto template is learnt later


def _inputs(job: Job) -> list[tuple[str, Path | None]]:
    template = job.template if isinstance(job.template, Path) else None
    return [("image", job.image), ("mask", job.mask), ("template", template)]


def check_extra_outputs(job: Job, mark: Path | None, snapshots: Path | None) -> None:
    """The further files `remove` may write (the estimated mark, snapshots), refused before
    anything runs when they would land on an input or on the job's own output."""
    if mark is not None:
        if mark.suffix.lower() != ".png":
            raise InputError(f"{mark}: write the estimated mark as .png (a template needs its "
                             "alpha channel)")
        check_output(mark)
        check_not_an_input(mark, [*_inputs(job), ("output", job.output)])
    if snapshots is not None:
        SnapshotFolder(snapshots, job.output).check([*_inputs(job), ("output", job.output)])


def check_job(job: Job, settings: DipSettings) -> None:
    """Everything that can be checked before the inputs are decoded."""
    check_settings(settings)
    if job.template is Template.AUTO:
        raise InputError(f"{job.image}: `template: auto` is learnt from a manifest's photos by "
                         "`unmark run`; give a template file here")
    for _, path in _inputs(job):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")
    check_output(job.output)
    check_output_path(job)


def load_input(job: Job) -> Picture:
    """The job's photo, refused before any fitting if the network or the output cannot take it."""
    picture = load_picture(job.image)
    check_encodable(picture, job.output)
    return picture


def check_cover(hole: np.ndarray, job: Job) -> None:
    """A mask that covers (nearly) all of the photo is refused, one that covers most of it is
    warned about: both before any fitting, with the hint that fits how the mask was read."""
    share = float(hole.mean())
    hint = "drop --invert-mask" if job.invert_mask else "pass --invert-mask"
    if share >= FULL_COVER:
        raise InputError(f"{job.mask}: the mask covers {share:.0%} of the image; nothing is left "
                         f"to fill from (is it inverted? {hint})")
    if share > LOOKS_INVERTED:
        warnings.warn(f"{job.mask}: {COVER_NOTE} {share:.0%} of the image; if black should mean "
                      f"keep, {hint}", UnmarkWarning, stacklevel=2)


def load_job(job: Job, settings: DipSettings | None = None) -> tuple[Picture, np.ndarray]:
    """Decode a mask job's inputs, its mask checked; raises InputError naming the file at
    fault."""
    picture = load_picture(job.image) if settings is None else load_input(job)
    if job.mask is None:
        raise InputError(f"{job.image}: no mask given")
    hole = load_mask(job.mask, picture.size, invert=job.invert_mask)
    check_cover(hole, job)
    return picture, hole


class _Passed:
    """Keeps the job's warnings and passes each on at once, as it comes (a warning about the
    mask shows before the fit, not after it). The maths' own copy of the cover warning, which
    check_cover gave already, is dropped."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.outside = warnings.showwarning

    def __call__(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if issubclass(category, UnmarkWarning):
            if COVER_NOTE in text and any(COVER_NOTE in note for note in self.notes):
                return
            self.notes.append(text)
        self.outside(message, category, filename, lineno, file, line)


def run_job(
    job: Job,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    observers: Observers | None = None,
) -> JobResult:
    from pipeline.core.fill.restore import Observers
    from pipeline.core.separate.mask_route import remove_in_mask

    check_job(job, settings)
    steps: list[int] = []
    observers = replace(observers or Observers(), fitted=steps.append)
    passed = _Passed()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UnmarkWarning)
        warnings.showwarning = passed
        mask_outcome = None
        if job.route is Route.TEMPLATE:
            output, placement, fitted = _remove_template(job, settings, runtime, observers)
        else:
            picture, hole = load_job(job, settings)
            mask_outcome = remove_in_mask(picture, hole, settings, runtime, observers)
            output = save_picture(mask_outcome.picture, job.output)
            placement, fitted = None, None
    notes = tuple(passed.notes)
    if mask_outcome is None:
        return JobResult(output, job.route, placement, notes, fitted, steps=sum(steps))
    return JobResult(output, job.route, placement, notes, fitted, mask_outcome.route,
                     mask_outcome.opacity if settings.separate else None, mask_outcome.mark,
                     sum(steps))


def save_estimated_mark(result: JobResult, path: Path) -> Path | None:
    """The mark a separated mask job estimated, as an RGBA template for --template (None when
    the mask was inpainted)."""
    from pipeline.core.mark.blend import box_around
    from pipeline.io.marks import save_mark

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
    from pipeline.core.mark.blend import recover
    from pipeline.core.mark.chroma import ChromaGrid
    from pipeline.core.mark.placement import locate, place, threshold
    from pipeline.core.mark.tiling import find_copies
    from pipeline.io.marks import load_mark

    picture = load_input(job)
    mark = load_mark(job.template, channels=picture.pixels.shape[2])
    image = picture.as_float()
    chroma = ChromaGrid(*picture.chroma)
    placement = locate(mark, image, picture.lossy, chroma=chroma)
    needed = threshold(mark, picture.size)
    name = job.template_name or Path(job.template).name
    if placement.confidence < needed:
        raise NoMarkFound(
            f"{job.image}: watermark {name} not found (best match "
            f"{placement.confidence:.2f} < {needed}); the image was left untouched. {NEXT_STEP}"
        )
    if placement.problem is not None:
        raise NoMarkFound(
            f"{job.image}: watermark {name} not found (best match at x={placement.left}, "
            f"y={placement.top}: {placement.problem}); the image was left untouched. "
            f"{NEXT_STEP}"
        )
    tiling = find_copies(mark, image, picture.lossy, placement, chroma)
    if len(tiling.copies) == 1:  # a single mark, placed as it always was
        full = place(mark, placement, picture.size)
    else:  # a tiled mark: refused copies are counted (a lone logo's refused guesses are not)
        full = tiling.mark(picture.size)
        placement = tiling.placement(placement)
    result = recover(picture, full, settings, runtime, observers)
    return save_picture(result.picture, job.output), placement, result.fitted
