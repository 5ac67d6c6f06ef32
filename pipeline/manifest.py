"""The batch manifest: a YAML file -> a checked schema -> the list of jobs it stands for.

Paths in a manifest are relative to the manifest's folder. Every error names the manifest, the
line and the field, so a typo in entry 40 of a long manifest is found at once. Outputs keep their
input's name under `output`, below the entry's glob root (the folder before the first wildcard),
so `catalogue/**/*.jpg` keeps its subfolders and two `a.jpg` in different folders never collide.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
import string
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from pipeline.errors import InputError
from pipeline.imaging import WRITABLE, UnmarkWarning, load_picture, warn
from pipeline.restore import check_hole
from pipeline.settings import PRESETS, DipSettings, NetworkShape, preset
from pipeline.single import Job, check_output_path, load_job

# `template: auto` estimates the mark from the entry's own images (the template issue). Manifest
# paths are always made absolute, so this relative path cannot be mistaken for a real file.
AUTO_TEMPLATE = Path("auto")
MASK_PATTERN_FIELDS = ("stem", "name", "subdir")
GLOB_MAGIC = re.compile(r"[*?[]")
IMAGE_SUFFIXES = WRITABLE  # an output keeps its input's name, so only formats we can write


class ManifestError(InputError):
    """A manifest that does not describe a batch; each line of the message starts path:line."""


@dataclass(frozen=True)
class BatchJob:
    key: str  # the output's path inside the output folder: unique, and the ledger's key
    job: Job
    settings: DipSettings
    line: int  # the manifest line of the entry it came from
    entry: int = 0  # the entry's index in `jobs:`; `template: auto` learns one mark per entry


@dataclass(frozen=True)
class Manifest:
    path: Path
    output: Path
    jobs: tuple[BatchJob, ...]


# The schema. Settings are DipSettings' own fields (all optional here), so a new field in
# settings.py is settable from a manifest without touching this file.
def _optional_fields(cls: type, types: dict[str, object]) -> dict[str, tuple[object, None]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (types.get(f.name, hints[f.name]), None) for f in dataclasses.fields(cls)}


_STRICT = ConfigDict(extra="forbid")
NetworkFields = create_model(
    "NetworkFields", __config__=_STRICT, **_optional_fields(NetworkShape, {})
)
SettingsFields = create_model(
    "SettingsFields",
    __config__=_STRICT,
    **_optional_fields(DipSettings, {"preset": Literal[tuple(PRESETS)], "network": NetworkFields}),
)


class Entry(BaseModel):
    model_config = _STRICT
    image: str | None = None
    images: str | None = None
    mask: str | None = None
    template: str | None = None
    invert_mask: bool = False
    settings: SettingsFields = Field(default_factory=SettingsFields)


class Schema(BaseModel):
    model_config = _STRICT
    version: Literal[1]
    output: str
    settings: SettingsFields = Field(default_factory=SettingsFields)
    jobs: list[Entry] = Field(min_length=1)


KNOWN_FIELDS = sorted(
    set(Schema.model_fields) | set(Entry.model_fields) | set(SettingsFields.model_fields)
    | set(NetworkFields.model_fields)
)


class _Source:
    """The manifest's text parsed twice over: plain data for the schema, and the YAML node tree
    that knows where each value was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{path}: no such manifest") from None
        except (OSError, UnicodeDecodeError) as problem:
            raise InputError(f"{path}: cannot read the manifest ({problem})") from None
        loader = yaml.SafeLoader(text)
        try:
            self.root = loader.get_single_node()
            self.data = loader.construct_document(self.root) if self.root is not None else None
        except yaml.MarkedYAMLError as problem:
            mark = problem.problem_mark or problem.context_mark
            raise ManifestError(
                f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: {problem.problem}"
            ) from None
        except yaml.YAMLError as problem:
            raise ManifestError(f"{path}:1: not valid YAML: {problem}") from None
        finally:
            loader.dispose()
        if self.root is None:
            raise ManifestError(f"{path}:1: the manifest is empty")
        self._refuse_repeated_keys(self.root, ())

    def _refuse_repeated_keys(self, node: yaml.Node, where: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key, value in node.value:
                if key.value in seen:  # YAML would silently keep the last one
                    raise ManifestError(self.describe(
                        (*where, key.value), "written twice", key.start_mark.line + 1
                    ))
                seen.add(key.value)
                self._refuse_repeated_keys(value, (*where, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._refuse_repeated_keys(item, (*where, index))

    def line(self, where: tuple) -> int:
        """The line of the field at `where` (keys and list indices), or of its nearest parent."""
        node = self.root
        line = node.start_mark.line
        for step in where:
            if isinstance(node, yaml.MappingNode):
                found = next((pair for pair in node.value if pair[0].value == step), None)
                if found is None:
                    break
                line, node = found[0].start_mark.line, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    break
                node = node.value[step]
                line = node.start_mark.line
            else:
                break
        return line + 1

    def error(self, where: tuple, message: str) -> ManifestError:
        return ManifestError(self.describe(where, message))

    def describe(self, where: tuple, message: str, line: int | None = None) -> str:
        field = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in where).lstrip(".")
        return f"{self.path}:{line or self.line(where)}: {field or 'manifest'}: {message}"


def _explain(error: dict) -> str:
    kind, where = error["type"], error["loc"]
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(str(where[-1]), KNOWN_FIELDS, n=1)
        return "unknown field" + (f" (did you mean '{guess[0]}'?)" if guess else "")
    if kind == "missing":
        return "required, but missing"
    if kind == "too_short" and where == ("jobs",):
        return "lists no jobs"
    if kind == "model_type":
        return "expected a mapping of fields"
    message = error["msg"]
    return message[0].lower() + message[1:]


def _parse(source: _Source) -> Schema:
    try:
        return Schema.model_validate(source.data)
    except ValidationError as problem:
        lines = sorted(
            (source.line(tuple(e["loc"])), source.describe(tuple(e["loc"]), _explain(e)))
            for e in problem.errors()
        )
        raise ManifestError("\n".join(text for _, text in lines)) from None


def _settings(source: _Source, schema: Schema, index: int) -> DipSettings:
    """Preset, then the manifest's defaults, then the entry's own overrides."""
    top = schema.settings.model_dump(exclude_unset=True)
    own = schema.jobs[index].settings.model_dump(exclude_unset=True)
    merged = {**top, **own}
    network = {**top.get("network", {}), **own.get("network", {})}
    base = preset(merged.pop("preset", "default"))
    merged["network"] = dataclasses.replace(base.network, **network)
    shape = merged["network"]
    if not len(shape.channels_down) == len(shape.channels_up) == len(shape.channels_skip):
        where = ("jobs", index, "settings") if "network" in own else ("settings",)
        raise source.error(
            (*where, "network"), "channels_down, channels_up and channels_skip need one "
            "entry per level each (the same length)"
        )
    return dataclasses.replace(base, **merged)


def _check_entry(source: _Source, entry: Entry, index: int) -> None:
    where = ("jobs", index)
    if (entry.image is None) == (entry.images is None):
        raise source.error(where, "give 'image' (one file) or 'images' (a glob), exactly one")
    if (entry.mask is None) == (entry.template is None):
        raise source.error(where, "give 'mask' or 'template', exactly one")
    if entry.template == str(AUTO_TEMPLATE) and entry.image is not None:
        raise source.error((*where, "template"), "'auto' learns the mark from many images; "
                           "use it with 'images', not 'image'")
    if entry.invert_mask and entry.template is not None:
        raise source.error((*where, "invert_mask"), "applies to masks, not templates")
    if entry.mask is not None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(entry.mask) if name]
        except ValueError as problem:
            raise source.error((*where, "mask"), f"bad pattern ({problem})") from None
        unknown = sorted(set(names) - set(MASK_PATTERN_FIELDS))
        if unknown:
            known = ", ".join(f"{{{n}}}" for n in MASK_PATTERN_FIELDS)
            raise source.error((*where, "mask"), f"unknown placeholder {{{unknown[0]}}} "
                               f"(known: {known})")


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


def _candidates(folder: str, entry: Entry, output: str) -> tuple[str, list[str]]:
    """(glob root, image paths) of one entry, before masks are taken out."""
    if entry.image is not None:
        image = os.path.normpath(os.path.join(folder, entry.image))
        return os.path.dirname(image), [image]
    root = _glob_root(folder, entry.images)
    pattern = os.path.normpath(os.path.join(glob.escape(folder), entry.images))
    # Earlier results can only be matched when the output folder lies below the glob's folder.
    skip_output = output != root and _inside(output, root)
    found = []
    for path in sorted(glob.glob(pattern, recursive=True)):
        below = os.path.relpath(path, root)
        if (
            os.path.isfile(path)
            and Path(path).suffix.lower() in IMAGE_SUFFIXES
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
    source = _Source(path)
    schema = _parse(source)
    folder = str(path.resolve().parent)
    output = os.path.normpath(os.path.join(folder, schema.output))
    for index, entry in enumerate(schema.jobs):
        _check_entry(source, entry, index)

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
        elif Path(entry.image).suffix.lower() not in IMAGE_SUFFIXES:
            raise source.error(where, f"cannot write '{Path(entry.image).suffix}' files "
                               f"(use one of {', '.join(sorted(IMAGE_SUFFIXES))})")
        settings = _settings(source, schema, index)
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
                check_output_path(job)
            except InputError as problem:
                raise source.error(("output",), str(problem)) from None
            jobs.append(BatchJob(key, job, settings, source.line(("jobs", index)), index))
    return Manifest(path=path, output=Path(output), jobs=tuple(jobs))


@dataclass(frozen=True)
class InputCheck:
    item: BatchJob
    problem: str | None
    warnings: tuple[str, ...]


def _check_inputs(job: Job) -> None:
    if job.template is None:
        picture, hole = load_job(job)
        check_hole(hole, str(job.mask))
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
