"""Tiny test clips made with PyAV: a shipped photo panned and zoomed (the clean truth), a mark
blended at a fixed place, a sine tone as the audio stream."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RATE = Fraction(25)
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Clip:
    path: Path
    clean: np.ndarray  # (N, H, W, 3) uint8: the frames before the mark and the encode
    box: tuple[slice, slice]  # the mark's bounding box
    alpha: np.ndarray  # (H, W) the mark's opacity as blended


def panned(photo: str, frames: int, size: tuple[int, int], zoom: float = 0.15,
           still: int = 0, scale: float = 0.6) -> np.ndarray:
    """(N, H, W, 3) uint8: a window sliding and zooming over the photo (`scale` photo px a
    frame px: below 1 the photo is enlarged, smooth as filmed frames are); the first `still`
    frames do not move."""
    height, width = size
    source = np.asarray(Image.open(SAMPLES / "clean" / f"{photo}.png").convert("RGB"))
    src_h, src_w = source.shape[:2]
    out = []
    for index in range(frames):
        t = max(0, index - still) / max(frames - 1, 1)
        zoomed = scale * (1 - zoom * t)
        centre_x = src_w * (0.35 + 0.3 * t)
        centre_y = src_h * (0.45 + 0.1 * t)
        matrix = np.array([[zoomed, 0, centre_x - zoomed * width / 2],
                           [0, zoomed, centre_y - zoomed * height / 2]], np.float64)
        out.append(cv2.warpAffine(source, matrix, (width, height),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def logo(size: tuple[int, int], at: tuple[int, int], width: int,
         opacity: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The shipped tight logo, `width` px wide at (top, left) on a canvas of `size`: (alpha
    (H, W) in [0, 1], colour (H, W, 3) in [0, 1]); `opacity` scales its opacity to that peak."""
    rgba = Image.open(SAMPLES / "marks" / "logo-tight.png").convert("RGBA")
    height = round(rgba.height * width / rgba.width)
    small = np.asarray(rgba.resize((width, height), Image.Resampling.LANCZOS)) / 255.0
    alpha = np.zeros(size)
    colour = np.zeros((*size, 3))
    top, left = at
    alpha[top:top + height, left:left + width] = small[..., 3]
    colour[top:top + height, left:left + width] = small[..., :3]
    if opacity is not None:
        alpha = np.clip(alpha / alpha.max() * opacity, 0, 1)
    return alpha, colour


def write_template(alpha: np.ndarray, colour: np.ndarray, path: Path) -> Path:
    """The mark's box as an RGBA template file."""
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    rgba = np.dstack([colour[box], alpha[box]])
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(path)
    return path


def encode(frames: np.ndarray, path: Path, crf: int = 23, audio: bool = True,
           pixel_format: str = "yuv420p") -> Path:
    """H.264 at `crf` plus a 440 Hz AAC tone as long as the clip."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE, options={"crf": str(crf)})
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = pixel_format
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        for pixels in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples = int(len(frames) / RATE * SAMPLE_RATE)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE))
            tone = tone.astype(np.float32)
            step = 1024
            for start in range(0, samples, step):
                part = tone[None, start:start + step]
                frame = av.AudioFrame.from_ndarray(part, format="flt", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def marked_clip(path: Path, frames: int = 64, size: tuple[int, int] = (96, 160),
                opacity: float | None = 0.55, crf: int = 23, photo: str = "coffee",
                still: int = 0, mark: bool = True, at: tuple[int, int] | None = None,
                width: int = 100, scale: float = 0.6) -> Clip:
    """A panned photo under the logo (or none; `width` px wide at `at`, by default near the
    bottom right), encoded with audio."""
    clean = panned(photo, frames, size, still=still, scale=scale)
    at = at or (size[0] - 30, size[1] - 110)
    alpha, colour = logo(size, at, width, opacity)
    marked = clean
    if mark:
        blend = alpha[None, ..., None] * colour[None] + (1 - alpha[None, ..., None]) * clean / 255
        marked = (blend * 255).round().astype(np.uint8)
    encode(marked, path, crf)
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return Clip(path, clean, box, alpha)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return float(10 * np.log10(255**2 / max(error, 1e-12)))
