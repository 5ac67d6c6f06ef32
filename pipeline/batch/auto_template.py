"""`template: auto`: the mark of an entry, estimated in the coordinator from all the entry's
images, once, before any worker starts; kept in the state folder under a hash of those images."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from pipeline.batch import ledger
from pipeline.batch.manifest import AUTO_TEMPLATE, BatchJob, Manifest
from pipeline.errors import InputError
from pipeline.io.imaging import load_picture
from pipeline.io.paths import is_video


def auto_template_path(state: Path, entry: int, images: Sequence[Path]) -> Path:
    """Where the mark estimated for `template: auto` entry N lives. The name carries a hash of
    the entry's images (paths, sizes, mtimes): add, change or remove one and the mark is
    estimated again; leave them be and a rerun reuses it."""
    digest = hashlib.sha256()
    for image in sorted(map(str, images)):
        try:
            stat = os.stat(image)
            facts = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            facts = None  # its job fails on its own; the name still changes when it comes back
        digest.update(json.dumps([image, facts]).encode())
    return state / "templates" / f"entry{entry}-{digest.hexdigest()[:16]}.png"


def _estimate_template(images: Sequence[Path], target: Path, where: str) -> None:
    from pipeline.core.learn.estimate_sizes import estimate_pictures
    from pipeline.io.marks import save_mark

    pictures = []
    for image in images:
        try:
            pictures.append(load_picture(image))
        except InputError:
            continue  # that job fails by itself, with its own reason; the others need not
    save_mark(estimate_pictures(pictures, where).mark, target)  # its errors name `where`


MIN_IMAGES = 3  # photos an estimate needs (core/estimate.py's own; kept here, light to load)
TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height (load_picture turns them)


def _size(image: Path) -> tuple[int, int] | None:
    try:
        with Image.open(image) as opened:
            width, height = opened.size
            turned = opened.getexif().get(0x0112) in TURNED
            return (height, width) if turned else (width, height)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # its job fails by itself, with its own reason


def _estimate_entry(images: Sequence[Path], target: Path, where: str) -> dict[Path, Path]:
    """Each image's template. Photos of one size share one full-frame estimate. Across sizes,
    each size with enough photos gets its own (a mark rescaled from another size is not exact
    enough for the blend check); the others get the estimate aligned across all sizes, or,
    failing that, the largest group's (placed by search, scale 0.5x-2x)."""
    groups: dict[tuple[int, int] | None, list[Path]] = {}
    for image in images:
        groups.setdefault(_size(image), []).append(image)
    sized = {size: members for size, members in groups.items() if size is not None}
    if len(sized) < 2:
        _estimate_template(images, target, where)
        return dict.fromkeys(images, target)
    templates: dict[Path, Path] = {}
    for (width, height), members in sized.items():
        if len(members) >= MIN_IMAGES:
            own = target.with_name(f"{target.stem}-{width}x{height}.png")
            _estimate_template(members, own, f"{where}, the {width}x{height} photos")
            templates.update(dict.fromkeys(members, own))
    rest = [image for image in images if image not in templates]
    if rest:
        try:
            _estimate_template(images, target, where)
            templates.update(dict.fromkeys(rest, target))
        except InputError:
            if not templates:
                raise
            largest = max(sized.values(), key=len)[0]
            templates.update(dict.fromkeys(rest, templates[largest]))
    return templates


def resolve(
    manifest: Manifest, jobs: tuple[BatchJob, ...], estimate: bool
) -> tuple[tuple[BatchJob, ...], dict[str, str]]:
    """Give the jobs of `template: auto` entries their entry's estimated mark, estimated here in
    the coordinator from all the entry's images, once, before any worker starts.

    Returns the jobs, and a reason for each job whose entry's mark cannot be estimated. Without
    `estimate` (status: read-only), only marks already on disk are used.
    """
    state = ledger.state_dir(manifest.output)
    marks: dict[Path, Path] = {}
    failed: dict[str, str] = {}
    for entry in sorted({item.entry for item in jobs if item.job.template == AUTO_TEMPLATE
                         and not is_video(item.job.image)}):  # a video estimates its own
        members = [item for item in manifest.jobs
                   if item.entry == entry and not is_video(item.job.image)]
        images = [item.job.image for item in members]
        target = auto_template_path(state, entry, images)
        index = target.with_suffix(".json")  # which template each image got
        if estimate and len(_read_index(index)) < len(images):  # new, or a template went missing
            where = f"template: auto (jobs[{entry}], line {members[0].line})"
            try:
                chosen = _estimate_entry(images, target, where)
            except InputError as problem:
                failed.update((item.key, str(problem)) for item in jobs if item.entry == entry)
                continue
            _write_index(index, chosen)
            for stale in target.parent.glob(f"entry{entry}-*"):  # from earlier images
                if not stale.name.startswith(target.stem):
                    stale.unlink(missing_ok=True)
        marks.update(_read_index(index))
    resolved = tuple(
        dataclasses.replace(item, job=dataclasses.replace(
            item.job, template=marks[item.job.image],
            template_name=f"learnt for jobs[{item.entry}] (template: auto)"))
        if item.job.template == AUTO_TEMPLATE and item.job.image in marks else item
        for item in jobs
    )
    return resolved, failed


def _write_index(index: Path, chosen: dict[Path, Path]) -> None:
    text = json.dumps({str(image): template.name for image, template in chosen.items()})
    partial = index.with_suffix(".part")
    partial.write_text(text)
    os.replace(partial, index)  # written last: a crash before it means estimate again


def _read_index(index: Path) -> dict[Path, Path]:
    if not index.is_file():
        return {}
    try:
        names = json.loads(index.read_text())
    except (OSError, ValueError):
        return {}
    found = {Path(image): index.parent / name for image, name in names.items()}
    return {image: template for image, template in found.items() if template.is_file()}
