"""The studio's folder: the images it shows, the masks it paints, the outputs it links, and the
one check every served or written path goes through (inside its folder, no `..`, no hidden
parts, no symlink leading out)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from pipeline.errors import InputError
from pipeline.io.imaging import IMAGE_SUFFIXES

MANIFEST_NAME = "studio.yaml"
MASKS_NAME = "studio-masks"
OUTPUT_NAME = "cleaned"
SWAPPED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that turn the photo a quarter


class Refused(Exception):
    """A request for a path the studio does not serve: `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StudioImage:
    index: int
    name: str  # the file's name in the folder (the page shows it as text, never as markup)
    path: Path
    mask: Path  # where its painted mask is (or will be) saved
    width: int
    height: int


@dataclass(frozen=True)
class Workspace:
    """A folder of photos; masks, manifest and outputs go inside it."""

    root: Path  # resolved

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def masks(self) -> Path:
        return self.root / MASKS_NAME

    @property
    def output(self) -> Path:
        return self.root / OUTPUT_NAME

    def images(self) -> list[StudioImage]:
        """The folder's own photos (not its subfolders), by name; a symlink leading out of the
        folder is left out."""
        photos = []
        for path in sorted(self.root.iterdir(), key=lambda p: p.name):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if not path.is_file() or not path.resolve().is_relative_to(self.root):
                continue
            size = _shown_size(path)
            if size is not None:
                photos.append((path, size))
        stems = Counter(path.stem for path, _ in photos)
        found = []
        for path, size in photos:  # masks by stem, as `scaffold` pairs them, unless ambiguous
            mask = self.masks / f"{path.stem if stems[path.stem] == 1 else path.name}.png"
            found.append(StudioImage(len(found), path.name, path, mask, *size))
        return found

    def masks_folder(self) -> Path:
        """The masks' folder, refused if it is (or holds) a way out of the folder."""
        if self.masks.is_symlink() or not self.masks.resolve().is_relative_to(self.root):
            raise Refused(403, f"{MASKS_NAME} leads out of the folder")
        return self.masks

    def saved_mask(self, image: StudioImage) -> Path:
        """The saved mask of `image`, through the same check as every served file."""
        return inside(self.masks_folder(), image.mask.name)

    def image(self, index: int) -> StudioImage:
        images = self.images()
        if not 0 <= index < len(images):
            raise Refused(404, f"no image number {index}")
        return images[index]

    def area(self, name: str) -> Path:
        """The folder a /files/ URL reads from: `input` (the photos) or `output`."""
        if name == "input":
            return self.root
        if name == "output":
            return self.output
        raise Refused(404, f"no such area: {name}")


def open_workspace(path: Path) -> Workspace:
    if not path.is_dir():
        raise InputError(f"{path}: not a folder of photos")
    return Workspace(path.resolve())


def _shown_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the photo is shown (EXIF orientation applied); None if undecodable."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in SWAPPED_ORIENTATIONS:
                return height, width
            return width, height
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def inside(base: Path, relative: str) -> Path:
    """The existing file `relative` names under `base`; refuses absolute paths, `..`, hidden
    parts (the ledger's folder among them) and symlinks whose target lies outside `base`."""
    if not relative or "\\" in relative or "\x00" in relative:
        raise Refused(400, "bad path")
    parts = PurePosixPath(relative).parts
    if relative.startswith("/") or any(part in ("..", ".") or part.startswith(".")
                                       for part in parts):
        raise Refused(403, "path outside the studio's folders")
    base = base.resolve()
    try:
        found = (base / relative).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise Refused(404, "no such file") from None
    except (OSError, RuntimeError):  # a symlink loop, a name too long
        raise Refused(400, "bad path") from None
    if not found.is_relative_to(base):
        raise Refused(403, "path outside the studio's folders")
    if not found.is_file():
        raise Refused(404, "no such file")
    return found


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to a temp file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def shown_image(path: Path) -> Image.Image:
    """The photo as a browser should show it (EXIF orientation applied), for formats it cannot
    show itself."""
    with Image.open(path) as image:
        return (ImageOps.exif_transpose(image) or image).copy()
