"""What the studio writes for the batch: painted masks as PNG (black = remove, white = keep) and
the manifest beside them, the same schema `unmark run` reads, one job per masked photo."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import yaml
from PIL import Image

from pipeline.ui.studio.files import OUTPUT_NAME, StudioImage, Workspace, write_atomically

MAX_MASK_BYTES = 64 * 1024 * 1024
HEADER = ("# Written by unmark studio: one job per painted mask (black = remove).\n"
          "# `unmark run studio.yaml` runs it; paths are relative to this file.\n")


class BadMask(ValueError):
    """A posted mask the studio cannot use; the message says why."""


@dataclass(frozen=True)
class BatchSettings:
    """The settings the studio's manifest gives every job."""

    preset: str = "default"
    steps: int | None = None  # None: the preset's


def decode_mask(data: bytes, image: StudioImage) -> np.ndarray:
    """A posted PNG -> (H, W) bool, True where it is dark (to remove); transparent = keep."""
    if len(data) > MAX_MASK_BYTES:
        raise BadMask("the mask is too large")
    try:
        with Image.open(io.BytesIO(data)) as posted:
            if posted.format != "PNG":
                raise BadMask("the mask must be a PNG")
            if posted.size != (image.width, image.height):
                raise BadMask(f"the mask is {posted.size[0]}x{posted.size[1]} but "
                              f"{image.name} is {image.width}x{image.height}")
            rgba = posted.convert("RGBA")
    except (OSError, Image.DecompressionBombError) as problem:
        raise BadMask(f"not a readable PNG ({problem})") from None
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = np.asarray(Image.alpha_composite(white, rgba).convert("L"))
    return grey < 128


def encode_mask(hole: np.ndarray) -> bytes:
    """(H, W) bool -> PNG bytes, black where True."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(hole, 0, 255).astype(np.uint8), "L").save(buffer, "PNG")
    return buffer.getvalue()


def save_mask(workspace: Workspace, image: StudioImage, hole: np.ndarray,
              everywhere: bool, settings: BatchSettings) -> list[StudioImage]:
    """Save the mask for `image` (and, with `everywhere`, for every photo of its size: a folder
    sharing one mark), then the manifest. Returns the photos whose mask was written."""
    targets = [image]
    if everywhere:
        targets = [other for other in workspace.images()
                   if (other.width, other.height) == (image.width, image.height)]
    data = encode_mask(hole)
    workspace.masks_folder()
    for target in targets:
        write_atomically(target.mask, data)
    write_manifest(workspace, settings)
    return targets


def _literal(path: str) -> str:
    """A mask path as the manifest's pattern language reads it literally."""
    return path.replace("{", "{{").replace("}", "}}")


def manifest_text(workspace: Workspace, settings: BatchSettings) -> str:
    jobs = [
        {"image": image.name, "mask": _literal(image.mask.relative_to(workspace.root).as_posix())}
        for image in workspace.images() if image.mask.is_file()
    ]
    chosen: dict[str, object] = {"preset": settings.preset}
    if settings.steps is not None:
        chosen["steps"] = settings.steps
    data = {"version": 1, "output": OUTPUT_NAME, "settings": chosen, "jobs": jobs}
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_manifest(workspace: Workspace, settings: BatchSettings) -> None:
    """The manifest of every masked photo (none masked yet: no manifest)."""
    if any(image.mask.is_file() for image in workspace.images()):
        write_atomically(workspace.manifest, manifest_text(workspace, settings).encode())
