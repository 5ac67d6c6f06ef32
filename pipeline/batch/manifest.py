"""The batch manifest: a YAML file -> a checked schema -> the list of jobs it stands for.

Paths in a manifest are relative to the manifest's folder. Every error names the manifest, the
line and the field, so a typo in entry 40 of a long manifest is found at once. Outputs keep their
input's name under `output`, below the entry's glob root (the folder before the first wildcard),
so `catalogue/**/*.jpg` keeps its subfolders and two `a.jpg` in different folders never collide.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch.schema import (
    AUTO_TEMPLATE,
    Entry,
    Source,
    check_entry,
    parse,
    settings_for,
)
from pipeline.errors import InputError
from pipeline.io.imaging import IMAGE_SUFFIXES, UnmarkWarning, load_mask, load_picture, warn
from pipeline.io.paths import VIDEO_SUFFIXES, check_inside, is_video
from pipeline.job import Job, check_output_path, load_job
from pipeline.settings import DipSettings, RunOptions

GLOB_MAGIC = re.compile(r"[*?[]")
MAX_MATCHES = 1_000_000  # a glob that finds more is a mistake (or a loop), not a batch
# An output keeps its input's name, so only formats we can write (IMAGE_SUFFIXES) are images.


@dataclass(frozen=True)
class BatchJob:
    key: str  # the output's path inside the output folder: unique, and the ledger's key
    job: Job
    settings: DipSettings
    line: int  # the manifest line of the entry it came from
    entry: int = 0  # the entry's index in `jobs:`; `template: auto` learns one mark per entry
    runtime: RunOptions = RunOptions()  # the manifest's checkpoint_every, if it gives one


@dataclass(frozen=True)
class Manifest:
    path: Path
    output: Path
    jobs: tuple[BatchJob, ...]


def _glob_root(folder: str, pattern: str) -> str:
    """The folder before the first wildcard: outputs keep the path below it."""
    fixed = []
    for part in Path(pattern).parts[:-1]:
        if GLOB_MAGIC.search(part):
            break
        fixed.append(part)
    return os.path.normpath(os.path.join(folder, *fixed))


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    """fnmatch, part by part, where a `**` part stands for any number of folders."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(pattern[1:], parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match_parts(
        pattern[1:], parts[1:]
    )


def _walk_glob(root: str, pattern: str) -> list[str]:
    """Files under `root` matching `pattern` (relative to root, `**` for any depth), without
    following symlinked folders (two `up -> ..` links would make the walk endless), hidden
    folders skipped, each real file once."""
    wanted = Path(pattern).parts
    found: dict[str, str] = {}
    for here, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        below = Path(os.path.relpath(here, root)).parts if here != root else ()
        for name in files:
            if _match_parts(list(wanted), [*below, name]):
                found.setdefault(os.path.realpath(os.path.join(here, name)),
                                 os.path.join(here, name))
        if len(found) > MAX_MATCHES:
            raise InputError(f"{os.path.join(root, pattern)}: matches more than {MAX_MATCHES} "
                             "files; narrow the pattern")
    return sorted(found.values())


def _glob(folder: str, images: str) -> list[str]:
    root = _glob_root(folder, images)
    if "**" not in Path(images).parts:
        pattern = os.path.normpath(os.path.join(glob.escape(folder), images))
        unique = {os.path.realpath(path): path for path in sorted(glob.glob(pattern))}
        return sorted(unique.values())
    rest = os.path.relpath(os.path.normpath(os.path.join(folder, images)), root)
    return _walk_glob(root, rest)


def _candidates(folder: str, entry: Entry, output: str) -> tuple[str, list[str]]:
    """(glob root, image paths) of one entry, before masks are taken out."""
    if entry.image is not None:
        image = os.path.normpath(os.path.join(folder, entry.image))
        return os.path.dirname(image), [image]
    root = _glob_root(folder, entry.images)
    # Earlier results can only be matched when the output folder lies below the glob's folder.
    skip_output = output != root and _inside(output, root)
    found = []
    for path in _glob(folder, entry.images):
        below = os.path.relpath(path, root)
        if (
            os.path.isfile(path)
            and Path(path).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            and not any(part.startswith(".") for part in Path(below).parts)
            and not (skip_output and _inside(path, output))
        ):
            found.append(path)
    return root, found


def _mask_for(folder: str, entry: Entry, image: str, root: str) -> str:
    subdir = os.path.relpath(os.path.dirname(image), root)
    name = entry.mask.format(
        stem=Path(image).stem, name=Path(image).name, subdir="" if subdir == "." else subdir
    )
    return os.path.normpath(os.path.join(folder, name))


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest; raises ManifestError (path:line: field: problem)."""
    path = Path(path)
    source = Source(path)
    schema = parse(source)
    folder = str(path.resolve().parent)
    output = os.path.normpath(os.path.join(folder, schema.output))
    for index, entry in enumerate(schema.jobs):
        check_entry(source, entry, index)

    found: list[tuple[int, str, list[tuple[str, str]]]] = []  # entry, root, (image, mask)
    support: set[str] = set()  # masks and templates are never images of another entry
    for index, entry in enumerate(schema.jobs):
        root, images = _candidates(folder, entry, output)
        pairs = []
        for image in images:
            if entry.mask is not None:
                side = _mask_for(folder, entry, image, root)
            elif entry.template == str(AUTO_TEMPLATE):
                side = entry.template
            else:
                side = os.path.normpath(os.path.join(folder, entry.template))
            pairs.append((image, side))
            support.add(side)
        found.append((index, root, pairs))

    jobs: list[BatchJob] = []
    writers: dict[str, int] = {}
    for index, root, pairs in found:
        entry = schema.jobs[index]
        where = ("jobs", index, "image" if entry.image is not None else "images")
        if entry.images is not None:
            pairs = [(image, side) for image, side in pairs if image not in support]
            if not pairs:
                raise source.error(where, f"matches no images ({os.path.join(folder, entry.images)}"
                                   "; hidden files, masks and the output folder are skipped)")
        elif Path(entry.image).suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise source.error(where, f"cannot write '{Path(entry.image).suffix}' files "
                               f"(use one of {', '.join(sorted(IMAGE_SUFFIXES))})")
        settings, runtime = settings_for(source, schema, index)
        for image, side in pairs:
            key = Path(os.path.relpath(image, root)).as_posix()
            if key.startswith("../"):
                raise source.error(where, f"{image} is outside the glob's folder {root}")
            target = Path(output) / key
            if key in writers:
                other = writers[key]
                raise source.error(where, f"{Path(image).name} would be written to {target}, "
                                   f"which jobs[{other}] (line {source.line(('jobs', other))}) "
                                   "also writes")
            writers[key] = index
            template = None
            if entry.template is not None:
                template = AUTO_TEMPLATE if side == str(AUTO_TEMPLATE) else Path(side)
            job = Job(
                image=Path(image),
                output=target,
                mask=Path(side) if entry.mask is not None else None,
                template=template,
                invert_mask=entry.invert_mask,
            )
            try:
                if not is_video(job.image):  # a video's output is checked by its job
                    check_output_path(job)
                check_inside(target, Path(output))
            except InputError as problem:
                raise source.error(("output",), str(problem)) from None
            jobs.append(BatchJob(key, job, settings, source.line(("jobs", index)), index, runtime))
    _check_outputs(source, Path(output), jobs)
    return Manifest(path=path, output=Path(output), jobs=tuple(jobs))


def _identity(path: Path) -> object:
    """One key per file on disk: hard links and symlinks to it share it."""
    try:
        stat = path.stat()
        return stat.st_dev, stat.st_ino
    except OSError:
        return os.path.realpath(path)


def _check_outputs(source: Source, output: Path, jobs: list[BatchJob]) -> None:
    """No job writes over any job's input (a mask folder given as `output:`, say)."""
    if output.exists() and not output.is_dir():
        raise source.error(("output",), f"{output} is a file, not a folder")
    inputs: dict[object, tuple[str, Path]] = {}
    for item in jobs:
        job = item.job
        for role, side in (("image", job.image), ("mask", job.mask), ("template", job.template)):
            if side is not None and side != AUTO_TEMPLATE:
                inputs.setdefault(_identity(side), (role, side))
    for item in jobs:
        clash = inputs.get(_identity(item.job.output))
        if clash is not None:
            raise source.error(("output",), f"{item.job.output} would overwrite the input "
                               f"{clash[0]} {clash[1]}; choose an output folder apart from the "
                               "inputs")


@dataclass(frozen=True)
class InputCheck:
    item: BatchJob
    problem: str | None
    warnings: tuple[str, ...]


def _check_inputs(job: Job) -> None:
    if is_video(job.image):
        from pipeline.io.video import probe  # the video codecs load only for a video

        info = probe(job.image)
        if job.mask is not None:
            load_mask(job.mask, info.size, invert=job.invert_mask)
        elif job.template != AUTO_TEMPLATE:
            load_picture(job.template)
        return
    if job.template is None:
        picture, hole = load_job(job)  # its cover checked, as a run checks it
        if not hole.any():
            warn(f"{job.mask}: the mask is empty; the image would be copied unchanged")
        return
    load_picture(job.image)
    if job.template != AUTO_TEMPLATE:
        load_picture(job.template)


def check_inputs(manifest: Manifest) -> list[InputCheck]:
    """Decode every job's inputs the way a run would, without optimising anything."""
    checks = []
    for item in manifest.jobs:
        problem = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnmarkWarning)
            try:
                _check_inputs(item.job)
            except InputError as error:
                problem = str(error)
        notes = tuple(str(w.message) for w in caught if issubclass(w.category, UnmarkWarning))
        checks.append(InputCheck(item, problem, notes))
    return checks
