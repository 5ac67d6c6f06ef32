"""`unmark scaffold`: write a manifest for a folder of photos, pairing each photo with its mask
by file stem (`a.jpg` <- `a.png`, `a_mask.png`, `a-mask.png` or `a.mask.png`), else by the
number stems end in (`watermarked3.jpg` <- `mask3.png`)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.batch.manifest import AUTO_TEMPLATE, IMAGE_SUFFIXES, Manifest, load_manifest
from pipeline.errors import InputError, StorageError
from pipeline.io.paths import new_file_mode, storage_error

MASK_TAGS = ("", "_mask", "-mask", ".mask")  # tried in this order


@dataclass(frozen=True)
class Scaffold:
    text: str  # the manifest
    paired: tuple[tuple[Path, Path | None], ...]  # (image, its mask; None for a shared one)
    unpaired: tuple[Path, ...]  # images without a mask: left out of the manifest
    unused: tuple[Path, ...]  # masks that belong to no image


def _pictures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _owner_stem(mask: Path) -> list[str]:
    """The image stems this file could be the mask of."""
    stems = [mask.stem]
    stems += [mask.stem[: -len(tag)] for tag in MASK_TAGS if tag and mask.stem.endswith(tag)]
    return stems


def pair(images_dir: Path, masks_dir: Path) -> tuple[dict[Path, Path], list[Path], list[Path]]:
    """(image -> mask, unpaired images, unused masks). Masks may share the images' folder."""
    images = _pictures(images_dir)
    masks = _pictures(masks_dir)
    stems = {image.stem for image in images}
    # In a shared folder, a file is a mask when its stem is another image's stem plus a tag.
    if images_dir.resolve() == masks_dir.resolve():
        is_mask = {m for m in masks if any(s in stems and s != m.stem for s in _owner_stem(m))}
        images = [image for image in images if image not in is_mask]
        masks = sorted(is_mask)
    by_stem: dict[str, list[Path]] = {}
    for mask in masks:
        by_stem.setdefault(mask.stem, []).append(mask)
    pairs: dict[Path, Path] = {}
    for image in images:
        for tag in MASK_TAGS:
            found = [m for m in by_stem.get(image.stem + tag, []) if m != image]
            if found:  # a.png before a.jpg: masks are best lossless
                pairs[image] = sorted(found, key=lambda m: (m.suffix.lower() != ".png", m.name))[0]
                break
    pairs.update(_pair_by_number([i for i in images if i not in pairs],
                                 [m for m in masks if m not in set(pairs.values())]))
    used = set(pairs.values())
    unpaired = [image for image in images if image not in pairs]
    return pairs, unpaired, [mask for mask in masks if mask not in used]


def _number(stem: str) -> int | None:
    """The number a stem ends in after a prefix of letters (`watermarked3` -> 3)."""
    found = re.fullmatch(r"[^\d]*?(\d+)", stem)
    return int(found.group(1)) if found else None


def _pair_by_number(images: list[Path], masks: list[Path]) -> dict[Path, Path]:
    """`photos/watermarked3.jpg` <- `masks/mask3.png`: stems that differ only in their prefix
    pair by their number, where each number names one image and one mask."""
    def by_number(paths: list[Path]) -> dict[int, list[Path]]:
        found: dict[int, list[Path]] = {}
        for path in paths:
            number = _number(path.stem)
            if number is not None:
                found.setdefault(number, []).append(path)
        return found

    image_numbers, mask_numbers = by_number(images), by_number(masks)
    return {found[0]: mask_numbers[number][0] for number, found in image_numbers.items()
            if len(found) == 1 and len(mask_numbers.get(number, [])) == 1}


def _relative(path: Path, manifest_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), manifest_dir)).as_posix()


def _glob_for(images: list[Path], folder: str) -> str:
    suffixes = {image.suffix for image in images}
    return f"{folder}/*{suffixes.pop()}" if len(suffixes) == 1 else f"{folder}/*"


def _one_pattern(pairs: dict[Path, Path]) -> str | None:
    """The `{stem}` pattern every pair follows, if they all follow one."""
    patterns = {mask.name.replace(image.stem, "{stem}", 1) for image, mask in pairs.items()}
    folders = {mask.parent for mask in pairs.values()}
    if len(patterns) == 1 and len(folders) == 1:
        return patterns.pop()
    return None


def scaffold(
    images_dir: Path,
    manifest: Path,
    masks_dir: Path | None = None,
    mask: Path | None = None,
    template: str | None = None,
    preset: str = "default",
    output: str | None = None,
) -> Scaffold:
    """A manifest over every picture in `images_dir` (not its subfolders)."""
    if sum(x is not None for x in (masks_dir, mask, template)) != 1:
        raise InputError("give exactly one of --masks DIR, --mask FILE or --template FILE")
    here = manifest.resolve().parent
    folder = _relative(images_dir, here)
    unpaired: list[Path] = []
    unused: list[Path] = []
    if masks_dir is not None:
        pairs, unpaired, unused = pair(images_dir, masks_dir)
        if not pairs:
            raise InputError(
                f"{images_dir}: no picture has a mask in {masks_dir} (looked for the same stem, "
                f"the stem with {', '.join(t for t in MASK_TAGS if t)}, or the same number)"
            )
        pattern = _one_pattern(pairs)
        if pattern is not None and not unpaired:
            masks_folder = _relative(next(iter(pairs.values())).parent, here)
            jobs = [{"images": _glob_for(list(pairs), folder), "mask": f"{masks_folder}/{pattern}"}]
        else:
            jobs = [{"image": _relative(image, here), "mask": _relative(m, here)}
                    for image, m in pairs.items()]
        paired = tuple(pairs.items())
    else:
        images = _pictures(images_dir)
        auto = mask is None and template == str(AUTO_TEMPLATE)
        side = mask if mask is not None else Path(str(template))
        if not images:
            raise InputError(f"{images_dir}: no pictures ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if not auto and not side.is_file():
            raise InputError(f"{side}: no such file")
        if not auto:
            images = [image for image in images if image.resolve() != side.resolve()]
        entry = {"images": _glob_for(images, folder)}
        if mask is not None:
            entry["mask"] = _relative(mask, here)
        else:
            entry["template"] = str(AUTO_TEMPLATE) if auto else _relative(side, here)
        jobs = [entry]
        paired = tuple((image, None) for image in images)

    body = {
        "version": 1,
        "output": output or f"out/{images_dir.resolve().name}",
        "settings": {"preset": preset},
        "jobs": jobs,
    }
    text = "# Written by `unmark scaffold`; paths are relative to this file. Edit freely.\n"
    text += yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    if unpaired:
        text += "# Not paired (no mask found), so left out:\n"
        text += "".join(f"#   {_relative(image, here)}\n" for image in unpaired)
    if unused:
        text += "# Masks that match no picture:\n"
        text += "".join(f"#   {_relative(m, here)}\n" for m in unused)
    return Scaffold(text, paired, tuple(unpaired), tuple(unused))


def write(result: Scaffold, manifest: Path, force: bool = False) -> Manifest:
    """Write the manifest (atomically) and read it back, as `unmark run` will."""
    if manifest.exists() and not force:
        raise InputError(f"{manifest}: already exists (pass --force to replace it)")
    if manifest.is_dir():
        raise StorageError(f"{manifest}: is a folder; give the manifest a file name (.yaml)")
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{manifest.name}.", dir=manifest.parent)
    except OSError as problem:
        raise storage_error(manifest, problem) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(result.text)
        os.chmod(temp, new_file_mode(manifest))
        os.replace(temp, manifest)
    except OSError as problem:
        raise storage_error(manifest, problem) from None
    finally:
        Path(temp).unlink(missing_ok=True)
    return load_manifest(manifest)
