"""Intermediate results for people who watch a long fit: one file every N steps."""

from __future__ import annotations

from pathlib import Path

from pipeline.io.imaging import Picture, save_picture


class SnapshotFolder:
    def __init__(self, folder: Path, output: Path) -> None:
        self.folder = folder
        self.stem = output.stem
        self.suffix = ".png"  # lossless, whatever the final format

    def write(self, step: int, picture: Picture) -> None:
        save_picture(picture, self.folder / f"{self.stem}.step{step:05d}{self.suffix}")
