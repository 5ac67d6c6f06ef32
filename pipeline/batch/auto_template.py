"""`template: auto`: the mark of an entry, estimated in the coordinator from all the entry's
images, once, before any worker starts; kept in the state folder under a hash of those images."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.batch import ledger
from pipeline.batch.manifest import AUTO_TEMPLATE, BatchJob, Manifest
from pipeline.core.estimate_sizes import estimate_pictures
from pipeline.errors import InputError
from pipeline.io.imaging import load_picture
from pipeline.io.marks import save_mark


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
    pictures = []
    for image in images:
        try:
            pictures.append(load_picture(image))
        except InputError:
            continue  # that job fails by itself, with its own reason; the others need not
    save_mark(estimate_pictures(pictures, where).mark, target)  # its errors name `where`


def resolve(
    manifest: Manifest, jobs: tuple[BatchJob, ...], estimate: bool
) -> tuple[tuple[BatchJob, ...], dict[str, str]]:
    """Give the jobs of `template: auto` entries their entry's estimated mark, estimated here in
    the coordinator from all the entry's images, once, before any worker starts.

    Returns the jobs, and a reason for each job whose entry's mark cannot be estimated. Without
    `estimate` (status: read-only), only marks already on disk are used.
    """
    state = ledger.state_dir(manifest.output)
    marks: dict[int, Path] = {}
    failed: dict[str, str] = {}
    for entry in sorted({item.entry for item in jobs if item.job.template == AUTO_TEMPLATE}):
        members = [item for item in manifest.jobs if item.entry == entry]
        images = [item.job.image for item in members]
        target = auto_template_path(state, entry, images)
        if estimate and not target.is_file():
            where = f"template: auto (jobs[{entry}], line {members[0].line})"
            try:
                _estimate_template(images, target, where)
            except InputError as problem:
                failed.update((item.key, str(problem)) for item in jobs if item.entry == entry)
                continue
            for stale in target.parent.glob(f"entry{entry}-*.png"):  # from earlier images
                if stale != target:
                    stale.unlink(missing_ok=True)
        if target.is_file():
            marks[entry] = target
    resolved = tuple(
        dataclasses.replace(item, job=dataclasses.replace(item.job, template=marks[item.entry]))
        if item.job.template == AUTO_TEMPLATE and item.entry in marks else item
        for item in jobs
    )
    return resolved, failed
