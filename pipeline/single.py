"""One job end to end: load the photo and its mask, restore, write. The CLI's `remove` and the
batch runner both come through here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.imaging import Picture, load_mask, load_picture, output_format, save_picture
from pipeline.restore import Observers, restore
from pipeline.settings import DipSettings


@dataclass(frozen=True)
class Job:
    image: Path
    output: Path
    mask: Path | None = None
    template: Path | None = None
    invert_mask: bool = False


def check_output_path(job: Job) -> None:
    output_format(job.output)
    if job.output.resolve() == job.image.resolve():
        raise InputError(f"{job.output}: refusing to overwrite the input image")


def load_job(job: Job) -> tuple[Picture, np.ndarray]:
    """Decode the job's inputs; raises InputError naming the file at fault."""
    picture = load_picture(job.image)
    if job.mask is None:
        raise InputError(f"{job.image}: no mask given")
    hole = load_mask(job.mask, picture.size, invert=job.invert_mask)
    return picture, hole


def run_job(job: Job, settings: DipSettings, observers: Observers = Observers()) -> Path:
    check_output_path(job)
    if job.template is not None:
        from pipeline.template import run_template_job

        return run_template_job(job, settings, observers)
    picture, hole = load_job(job)
    result = restore(picture, hole, settings, observers=observers)
    return save_picture(result, job.output)
