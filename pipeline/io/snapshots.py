"""Intermediate results for people who watch a long fit: one file every N steps."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pipeline.errors import InputError
from pipeline.io.imaging import Picture, save_picture
from pipeline.io.paths import same_file


class SnapshotFolder:
    def __init__(self, folder: Path, output: Path) -> None:
        self.folder = folder
        self.stem = output.stem
        self.suffix = ".png"  # lossless, whatever the final format

    def path(self, step: int) -> Path:
        return self.folder / f"{self.stem}.step{step:05d}{self.suffix}"

    def check(self, files: Iterable[tuple[str, Path | None]]) -> None:
        """InputError when a snapshot's name is one of `files` (role, path): an input named
        like a snapshot, in the snapshots' folder, would be overwritten."""
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"{self.folder}: --snapshots needs a folder, this is a file")
        pattern = re.compile(re.escape(self.stem) + r"\.step\d{5}" + re.escape(self.suffix))
        for role, path in files:
            if path is None or not pattern.fullmatch(path.name):
                continue
            if same_file(self.folder / path.name, path):
                raise InputError(f"{path}: a snapshot in {self.folder} would overwrite the "
                                 f"{role}; choose another --snapshots folder")

    def write(self, step: int, picture: Picture) -> None:
        save_picture(picture, self.path(step))
