"""Pixels in and out: decode any photo into a Picture (pipeline/picture.py) and any mask into an
array, write results atomically."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import InputError, StorageError, UnmarkWarning, warn
from pipeline.io.paths import check_output, new_file_mode, storage_error
from pipeline.picture import Picture

Image.MAX_IMAGE_PIXELS = 400_000_000  # big photos are the point; refuse only absurd ones

JPEG_QUALITY = 95
# zlib level 2 writes a 2816x1536 photo 4x faster than Pillow's default 6, for a file 17% larger
PNG_COMPRESSION = 2
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
ORIENTATION_TAG = 0x0112
LOSSY_FORMATS = {"JPEG", "MPO", "WEBP"}


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image (cannot identify its format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: corrupt or truncated image ({error})") from None
    except Image.DecompressionBombError as error:
        raise InputError(f"{path}: {error}") from None
    except MemoryError:
        raise InputError(f"{path}: too large to decode in the memory available") from None
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        warn(f"{path}: has {frames} frames (pages); only the first is used, the other "
             f"{frames - 1} are ignored")
    return image


def _is_16bit_colour(path: Path, image: Image.Image) -> bool:
    """Pillow reads 16-bit RGB(A) PNG/TIFF as 8-bit; OpenCV keeps the precision."""
    if image.mode not in ("RGB", "RGBA"):
        return False
    if image.format == "PNG":
        with open(path, "rb") as stream:
            header = stream.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR bit depth
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _read_16bit_colour(path: Path, image: Image.Image) -> Picture:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise InputError(f"{path}: cannot decode its 16-bit colour channels")
    if array.ndim == 2:
        array = array[..., None]
    order = [2, 1, 0] + ([3] if array.shape[2] == 4 else [])
    array = array[..., order]
    alpha = array[..., 3].copy() if array.shape[2] == 4 else None
    return Picture(
        pixels=np.ascontiguousarray(array[..., :3]),
        mode="RGB",
        alpha=alpha,
        icc_profile=image.info.get("icc_profile"),
        source=str(path),
    )


def _split_alpha(image: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    if image.mode in ("RGBA", "LA"):
        return image.convert(image.mode[:-1]), np.asarray(image.getchannel("A")).copy()
    return image, None


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Bring every Pillow mode to L, RGB, CMYK, I;16 (each maybe with alpha)."""
    mode = image.mode
    if mode in ("L", "RGB", "CMYK", "RGBA", "LA", "I;16"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette.mode == "RGBA"
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("PA", "RGBa", "RGBX"):
        return image.convert("RGBA" if mode != "RGBX" else "RGB")
    if mode == "La":
        return image.convert("LA")
    if mode.startswith("I;16"):
        return Image.fromarray(np.asarray(image).astype(np.uint16))
    if mode == "I":
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise InputError(f"{image.filename}: 32-bit integer pixels are not supported")
        return Image.fromarray(array.astype(np.uint16))
    if mode in ("YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    raise InputError(f"{image.filename}: pixel mode {mode} is not supported")


def load_picture(path: str | Path) -> Picture:
    """Decode a photo, upright (EXIF orientation applied), in its own channels and bit depth."""
    path = Path(path)
    image = _open(path)
    if _is_16bit_colour(path, image):
        return _read_16bit_colour(path, image)
    icc_profile = image.info.get("icc_profile")
    image_format = image.format
    chroma = _chroma_blocks(path, image)
    image = ImageOps.exif_transpose(image) or image
    exif = image.getexif()
    if ORIENTATION_TAG in exif:
        exif[ORIENTATION_TAG] = 1
    image = _normalise_mode(image)
    image, alpha = _split_alpha(image)
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return Picture(
        pixels=np.ascontiguousarray(pixels),
        mode="L" if pixels.shape[2] == 1 else image.mode,
        alpha=alpha,
        icc_profile=icc_profile,
        exif=exif.tobytes() if len(exif) else None,
        source=str(path),
        lossy=image_format in LOSSY_FORMATS,
        chroma=chroma,
    )


JPEG_SAMPLING = {0: (1, 1), 1: (1, 2), 2: (2, 2)}  # Pillow's 4:4:4, 4:2:2, 4:2:0
WEBP_HEADER = 4096  # bytes read to tell a lossy WebP (a "VP8 " chunk, 4:2:0) from a lossless one


def _chroma_blocks(path: Path, image: Image.Image) -> tuple[int, int]:
    """The (rows, cols) block a lossy file kept one colour for; (1, 1) when it kept every
    pixel's. A photo stored on its side (EXIF orientation) swaps them."""
    blocks = (1, 1)
    if image.format in ("JPEG", "MPO") and image.mode == "RGB":
        from PIL import JpegImagePlugin

        blocks = JPEG_SAMPLING.get(JpegImagePlugin.get_sampling(image), (1, 1))
    elif image.format == "WEBP" and image.mode in ("RGB", "RGBA"):
        with path.open("rb") as file:
            if b"VP8 " in file.read(WEBP_HEADER):
                blocks = (2, 2)
    if image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8):
        blocks = blocks[::-1]
    return blocks


MASK_ASPECT_TOLERANCE = 0.01


def load_mask(path: str | Path, size: tuple[int, int], invert: bool = False) -> np.ndarray:
    """The hole to fill, as bool (H, W): True where the mask is dark (black = remove).

    Transparent mask pixels count as white (keep). A mask of another size but the same aspect
    ratio is resized with a warning.
    """
    path = Path(path)
    image = _open(path)
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    # Compared in the file's own integers: a float copy of a 19000 px square mask is 2.9 GB.
    if image.mode.startswith("I") or image.mode == "F":
        array = np.asarray(image)
        hole = array < max(float(array.max()), 1.0) / 2  # darker than half its brightest
    else:
        hole = np.asarray(image.convert("L")) < 128  # below half of 255
    height, width = size
    if hole.shape != (height, width):
        mask_h, mask_w = hole.shape
        if abs(mask_w / mask_h - width / height) > MASK_ASPECT_TOLERANCE * (width / height):
            raise InputError(
                f"{path}: mask is {mask_w}x{mask_h} but the image is {width}x{height} "
                "(different aspect ratio)"
            )
        warn(f"{path}: mask is {mask_w}x{mask_h}, resized to the image's {width}x{height}")
        resized = Image.fromarray(hole.astype(np.uint8)).resize(
            (width, height), Image.Resampling.NEAREST
        )
        hole = np.asarray(resized) > 0
    return ~hole if invert else hole


def output_format(path: Path) -> str:
    """The format a path's extension asks for; InputError if we cannot write it."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            f"{path}: cannot write '{suffix}' files "
            f"(use one of {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        suffix, suffix[1:].upper()
    )


def _to_pil(picture: Picture, fmt: str, path: Path) -> Image.Image:
    pixels = picture.pixels
    if pixels.dtype == np.uint16:
        if picture.mode == "L" and fmt in ("PNG", "TIFF") and picture.alpha is None:
            return Image.fromarray(pixels[..., 0])  # uint16 -> I;16
        warn(f"{path}: {fmt} cannot hold 16-bit {picture.mode}; written with 8 bits")
        pixels = (pixels.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    mode = picture.mode
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode=mode)
    alpha = picture.alpha
    if alpha is not None and alpha.dtype == np.uint16:
        alpha = (alpha.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if mode == "CMYK" and fmt not in ("JPEG", "TIFF"):
        warn(f"{path}: {fmt} cannot hold CMYK; written as RGB")
        image = image.convert("RGB")
    if alpha is not None:
        if fmt in ("JPEG", "BMP"):
            warn(f"{path}: {fmt} has no transparency; the alpha channel is dropped")
        else:
            image = image.convert("LA" if image.mode == "L" else "RGBA")
            image.putalpha(Image.fromarray(alpha, mode="L"))
    return image


def _write_16bit(picture: Picture, fmt: str, target: Path | io.BytesIO) -> None:
    channels = picture.pixels[..., ::-1]  # OpenCV wants BGR
    if picture.alpha is not None:
        channels = np.dstack([channels, picture.alpha])
    suffix = ".png" if fmt == "PNG" else ".tiff"
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(channels))
    if not ok:
        raise InputError(f"{picture.source}: could not encode 16-bit {fmt}")
    if isinstance(target, io.BytesIO):
        target.write(encoded.tobytes())
    else:
        with open(target, "wb") as stream:
            stream.write(encoded.tobytes())


def _encode(picture: Picture, fmt: str, path: Path, target: Path | io.BytesIO) -> None:
    """Write `picture` as `fmt` into `target` (a file or memory); `path` names it in warnings."""
    wide_colour = picture.pixels.dtype == np.uint16 and picture.mode == "RGB"
    if wide_colour and fmt in ("PNG", "TIFF"):
        _write_16bit(picture, fmt, target)
        return
    options: dict[str, object] = {}
    if picture.icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["icc_profile"] = picture.icc_profile
    if picture.exif and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["exif"] = picture.exif
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, subsampling=0)
    if fmt == "WEBP":
        options.update(quality=JPEG_QUALITY)
    if fmt == "PNG":
        options.update(compress_level=PNG_COMPRESSION)
    _to_pil(picture, fmt, path).save(target, format=fmt, **options)


def check_encodable(picture: Picture, path: str | Path) -> None:
    """Encode a corner of the picture the way save_picture will, before any fitting: a format
    that cannot take these pixels fails now, in one line, not after the whole fit."""
    path = Path(path)
    fmt = output_format(path)
    corner = replace(
        picture,
        pixels=np.ascontiguousarray(picture.pixels[:8, :8]),
        alpha=None if picture.alpha is None else np.ascontiguousarray(picture.alpha[:8, :8]),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnmarkWarning)  # save_picture will say it again
            _encode(corner, fmt, path, io.BytesIO())
    except (OSError, ValueError, KeyError, TypeError) as problem:
        raise InputError(
            f"{path}: cannot write this photo ({picture.mode}, {picture.pixels.dtype}) as {fmt} "
            f"({problem}); choose another format, e.g. .png"
        ) from None


def save_picture(picture: Picture, path: str | Path) -> Path:
    """Write atomically: a temp file in the same folder, then rename over the target."""
    path = Path(path)
    fmt = output_format(path)
    check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent
        )
    except OSError as problem:
        raise storage_error(path, problem) from None
    os.close(handle)
    temp = Path(temp_name)
    try:
        _encode(picture, fmt, path, temp)
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(temp, new_file_mode(path))
        os.replace(temp, path)
    except OSError as problem:
        raise storage_error(path, problem) from None
    except MemoryError:
        raise StorageError(f"{path}: out of memory while encoding it") from None
    finally:
        temp.unlink(missing_ok=True)
    return path

