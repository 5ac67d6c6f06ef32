"""Rebuild the shipped samples (run once; the outputs are committed).

Photos come from scikit-image's data set (public domain / CC0, see samples/LICENSE.md). Each gets a
visible mark: an opaque text mark for mask mode, and the same translucent logo (samples/marks/) on
every photo for template mode. Masks are the mark's footprint, black = remove.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data

HERE = Path(__file__).resolve().parent
PHOTOS = {"astronaut": data.astronaut, "coffee": data.coffee, "chelsea": data.chelsea,
          "rocket": data.rocket}
WIDTH = 320
MARK_OPACITY = 0.55


STOCK_SIZE = (320, 208)


def centre_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    left, top = (image.width - size[0]) // 2, (image.height - size[1]) // 2
    return image.crop((left, top, left + size[0], top + size[1]))


def photo(name: str) -> Image.Image:
    image = Image.fromarray(PHOTOS[name]()).convert("RGB")
    height = round(image.height * WIDTH / image.width)
    return image.resize((WIDTH, height), Image.Resampling.LANCZOS)


def text_layer(
    size: tuple[int, int], text: str, xy: tuple[int, int], font_size: int
) -> Image.Image:
    layer = Image.new("L", size, 0)
    ImageDraw.Draw(layer).text(xy, text, fill=255, font=ImageFont.load_default(font_size))
    return layer


def logo(size: tuple[int, int]) -> Image.Image:
    """The shared translucent mark: white text at MARK_OPACITY, RGBA, the photo's size."""
    coverage = text_layer(size, "(c) UNMARK", (size[0] // 2 - 90, size[1] // 2 - 20), 34)
    alpha = (np.asarray(coverage, dtype=np.float32) * MARK_OPACITY).round().astype(np.uint8)
    rgba = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA")


def stamp(image: Image.Image, mark: Image.Image) -> Image.Image:
    return Image.alpha_composite(image.convert("RGBA"), mark).convert("RGB")


def main() -> None:
    for folder in ("photos", "masks", "clean", "marks", "stock"):
        (HERE / folder).mkdir(exist_ok=True)
    captions = {"astronaut": "sample.stock", "coffee": "© unmark", "chelsea": "unmark demo",
                "rocket": "#0451"}
    for name, caption in captions.items():
        clean = photo(name)
        clean.save(HERE / "clean" / f"{name}.png")
        coverage = text_layer(clean.size, caption, (clean.width // 2 - 70, clean.height - 60), 30)
        opaque = np.zeros((clean.height, clean.width, 4), dtype=np.uint8)
        opaque[..., :3] = 250
        opaque[..., 3] = np.asarray(coverage)
        marked = stamp(clean, Image.fromarray(opaque, "RGBA"))
        marked.save(HERE / "photos" / f"{name}.jpg", quality=92)
        footprint = coverage.point(lambda v: 255 if v > 0 else 0).filter(ImageFilter.MaxFilter(13))
        Image.eval(footprint, lambda v: 255 - v).convert("L").save(HERE / "masks" / f"{name}.png")
    # the template-mode set: one size, the same translucent logo at the same place, lossless
    mark = logo(STOCK_SIZE)
    for name in captions:
        frame = centre_crop(photo(name), STOCK_SIZE)
        stamp(frame, mark).save(HERE / "stock" / f"{name}.png")
        frame.save(HERE / "clean" / f"{name}.stock.png")
    mark.save(HERE / "marks" / "logo.png")
    mark.crop(mark.getbbox()).save(HERE / "marks" / "logo-tight.png")


if __name__ == "__main__":
    main()
