"""Where a result may be written: never over one of the job's own inputs, never into a folder
that cannot take it. Checked before anything is fitted, so a refusal costs nothing."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from pipeline.errors import InputError, StorageError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


def is_video(path: Path) -> bool:
    """Whether `path` names a video (by its suffix), without loading the video codecs."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def same_file(a: Path, b: Path) -> bool:
    """Do two paths name one file (symlinks, `..`, hard links)?"""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


def check_not_an_input(output: Path, inputs: Iterable[tuple[str, Path | None]]) -> None:
    """InputError when `output` is one of the inputs, named by role ("image", "mask")."""
    for role, path in inputs:
        if path is not None and same_file(output, path):
            raise InputError(f"{output}: refusing to overwrite the input {role} {path} "
                             "(choose another output)")


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if os.path.lexists(parent):
            return parent
    return Path(path.anchor or ".")


def check_folder_writable(folder: Path) -> None:
    """StorageError unless a file can be created in `folder` (tried for real: permissions,
    read-only mounts and ACLs all show), or in its nearest existing ancestor."""
    target = folder if os.path.lexists(folder) else _existing_ancestor(folder / "x")
    if not target.is_dir():
        raise StorageError(f"{target}: is a file, not a folder; cannot write into it")
    try:
        handle, name = tempfile.mkstemp(prefix=".unmark-probe.", dir=target)
    except OSError as problem:
        raise StorageError(f"{target}: cannot write here ({describe(problem)})") from None
    os.close(handle)
    os.unlink(name)


def check_output(output: Path) -> None:
    """The output path can be written: not a folder, its folder writable or creatable."""
    if output.is_dir():
        raise StorageError(f"{output}: is a folder; give a file name for the output")
    check_folder_writable(output.parent)


def describe(problem: OSError) -> str:
    """An OSError in a few words: 'disk full', 'permission denied'."""
    if problem.errno == errno.ENOSPC:
        return "disk full"
    if problem.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if problem.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if problem.errno == errno.EROFS:
        return "read-only file system"
    return problem.strerror or str(problem)


def storage_error(path: Path, problem: OSError, doing: str = "writing") -> StorageError:
    return StorageError(f"{path}: {describe(problem)} while {doing} it")


def _umask() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def new_file_mode(path: Path) -> int:
    """What a plain `open(path, "w")` would give: the replaced file's mode, else 0666 & ~umask
    (a temp file's 0600 must not survive the rename)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def check_inside(path: Path, folder: Path) -> None:
    """InputError when `path`, symlinks followed, would land outside `folder`."""
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([real, real_folder]) != real_folder:
        raise InputError(f"{path}: a symlink inside {folder} leads out of it (to {real}); "
                         "refusing to write there")


def intact(path: Path) -> bool:
    """Does a written output still decode to the end? (A truncated file is not done.)"""
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                with open(path, "rb") as stream:
                    stream.seek(-2, os.SEEK_END)
                    return stream.read(2) == b"\xff\xd9"  # JPEG's end-of-image marker
            if image.format == "PNG":
                image.verify()  # every chunk's CRC, through to IEND; no decompression
            else:
                image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def remove_partial_outputs(outputs: Iterable[Path]) -> None:
    """A kill -9 inside imaging.save_picture can leave its temp file (`.STEM.XXXX.partialEXT`),
    never a half-written output. One listing per output folder, however many jobs."""
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for output in outputs:
        wanted.setdefault(output.parent, set()).add((output.stem, output.suffix))
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and ".partial" in entry.name:
                head, _, suffix = entry.name[1:].rpartition(".partial")
                if (head.rpartition(".")[0], suffix) in names:
                    os.unlink(entry.path)
