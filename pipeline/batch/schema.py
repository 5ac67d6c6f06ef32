"""The manifest's schema: its YAML text, checked field by field, every error naming the
manifest's path, line and field."""

from __future__ import annotations

import dataclasses
import difflib
import string
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, create_model

from pipeline.errors import InputError
from pipeline.job import Template
from pipeline.settings import PRESETS, DipSettings, NetworkShape, RunOptions, preset
from pipeline.validation import SettingError, check_settings

# `template: auto` estimates the mark from the entry's own images.
AUTO_TEMPLATE = Template.AUTO
MASK_PATTERN_FIELDS = ("stem", "name", "subdir")


class ManifestError(InputError):
    """A manifest that does not describe a batch; each line of the message starts path:line."""


# The schema. Settings are DipSettings' own fields (all optional here), so a new field in
# settings.py is settable from a manifest without touching this file.
def _strict_ints(hint: object) -> object:
    """`steps: true` is no step count: YAML's booleans are refused where a number goes."""
    if hint is int:
        return StrictInt
    if hint == int | None:
        return StrictInt | None
    return hint


def _optional_fields(cls: type, types: dict[str, object]) -> dict[str, tuple[object, None]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (types.get(f.name, _strict_ints(hints[f.name])), None)
            for f in dataclasses.fields(cls)}


_STRICT = ConfigDict(extra="forbid")
NetworkFields = create_model(
    "NetworkFields", __config__=_STRICT, **_optional_fields(NetworkShape, {})
)
SettingsFields = create_model(
    "SettingsFields",
    __config__=_STRICT,
    # Runtime options may sit beside the settings (checkpoint_every is used; device and
    # snapshot_every are the workers' own business): they are not hashed.
    **_optional_fields(DipSettings, {"preset": Literal[tuple(PRESETS)], "network": NetworkFields}),
    **_optional_fields(RunOptions, {}),
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


class Source:
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
        except RecursionError:
            raise ManifestError(f"{path}:1: not valid YAML: nested too deeply") from None
        finally:
            loader.dispose()
        if self.root is None:
            raise ManifestError(f"{path}:1: the manifest is empty")
        self._checked: set[int] = set()
        self._refuse_repeated_keys(self.root, (), set())

    def _refuse_repeated_keys(self, node: yaml.Node, where: tuple, path: set[int]) -> None:
        """Also refuses an alias that contains itself; a node shared by aliases is checked
        once, so a small file of nested aliases cannot cost exponential time."""
        if id(node) in path:
            raise ManifestError(self.describe(
                where, "an alias refers to itself (a recursive structure)", node.start_mark.line + 1
            ))
        if id(node) in self._checked:
            return
        self._checked.add(id(node))
        path = path | {id(node)}
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key, value in node.value:
                if key.value in seen:  # YAML would silently keep the last one
                    raise ManifestError(self.describe(
                        (*where, key.value), "written twice", key.start_mark.line + 1
                    ))
                seen.add(key.value)
                self._refuse_repeated_keys(value, (*where, key.value), path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._refuse_repeated_keys(item, (*where, index), path)

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


def parse(source: Source) -> Schema:
    try:
        return Schema.model_validate(source.data)
    except ValidationError as problem:
        lines = sorted(
            (source.line(tuple(e["loc"])), source.describe(tuple(e["loc"]), _explain(e)))
            for e in problem.errors()
        )
        raise ManifestError("\n".join(text for _, text in lines)) from None


def settings_for(source: Source, schema: Schema, index: int) -> tuple[DipSettings, RunOptions]:
    """Preset, then the manifest's defaults, then the entry's own overrides; the runtime
    options apart from the settings that change the pixels."""
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
    runtime = {f.name: merged.pop(f.name) for f in dataclasses.fields(RunOptions)
               if f.name in merged}
    settings = dataclasses.replace(base, **merged)
    try:
        check_settings(settings)
    except SettingError as problem:
        name = problem.field.split(".")[0]
        where = ("jobs", index, "settings") if name in own else ("settings",)
        raise source.error((*where, *problem.field.split(".")), str(problem)) from None
    if runtime.get("checkpoint_every", 0) < 0:
        raise source.error(("settings", "checkpoint_every"), "cannot be negative")
    return settings, RunOptions(**runtime)


def check_mask_pattern(pattern: str) -> None:
    """Only plain `{stem}`, `{name}`, `{subdir}`: no conversion, format spec, index or
    attribute, which could run arbitrary formatting (`{stem:>3000000000}` asks for 3 GB)."""
    known = ", ".join(f"{{{n}}}" for n in MASK_PATTERN_FIELDS)
    try:
        fields = [(name, spec, conversion)
                  for _, name, spec, conversion in string.Formatter().parse(pattern)
                  if name is not None]
    except ValueError as problem:
        raise InputError(f"bad pattern ({problem}); use {{{{ and }}}} for literal braces") from None
    for name, spec, conversion in fields:
        if name not in MASK_PATTERN_FIELDS:
            raise InputError(f"unknown placeholder {{{name}}} (known: {known})")
        if spec or conversion:
            raise InputError(f"placeholder {{{name}}} takes no conversion or format spec "
                             f"(write it plain: {known})")


def check_entry(source: Source, entry: Entry, index: int) -> None:
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
            check_mask_pattern(entry.mask)
        except InputError as problem:
            raise source.error((*where, "mask"), str(problem)) from None
