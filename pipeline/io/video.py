"""Video in and out through PyAV (its wheels bundle FFmpeg): a probe into a typed VideoInfo,
frames out as numpy chunks (memory follows the chunk, not the clip), a chunk encoded as one
segment, and the segments joined with the input's audio and subtitle packets copied untouched,
written to a temporary file and renamed into place."""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import InputError
from pipeline.io.paths import VIDEO_SUFFIXES, is_video, new_file_mode  # noqa: F401 (re-exported)

COPIED_KINDS = ("audio", "subtitle")  # streams carried over packet for packet


# The encoder a container gets when none is named: WebM holds VP8/VP9/AV1 only, AVI no H.264
# in the MP4 layout the segments carry.
DEFAULT_CODECS = {".webm": "libvpx-vp9", ".avi": "mpeg4"}


@dataclass(frozen=True)
class Encoding:
    """How the cleaned video is written: visually lossless H.264 by default."""

    codec: str | None = None  # None: libx264, or what the output's container needs
    crf: int = 18
    preset: str = "medium"

    def for_output(self, output: Path) -> Encoding:
        """The encoding with its codec decided for `output`."""
        if self.codec is not None:
            return self
        return replace(self, codec=DEFAULT_CODECS.get(output.suffix.lower(), "libx264"))

    def options(self) -> dict[str, str]:
        # No B-frames: each segment then starts and ends on its own timestamps, so segments
        # join without reordering across the seam.
        options = {"bf": "0"}
        if self.codec in ("libx264", "libx265"):
            options |= {"crf": str(self.crf), "preset": self.preset}
        elif self.codec and self.codec.startswith("libvpx"):
            options |= {"crf": str(self.crf), "b": "0", "auto-alt-ref": "0"}
        else:
            options |= {"qscale": str(max(1, self.crf // 6))}
        return options


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learns about a clip."""

    path: Path
    frames: int
    rate: Fraction  # frames per second
    width: int
    height: int
    pixel_format: str  # e.g. "yuv420p"
    codec: str
    duration: float  # seconds
    streams: tuple[str, ...]  # the kind of every stream, in order ("video", "audio", ...)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.height, self.width

    @property
    def copied(self) -> int:
        return sum(kind in COPIED_KINDS for kind in self.streams)



def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as problem:
        raise InputError(f"{path}: not a video FFmpeg can read ({problem})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def _count_frames(container: av.container.InputContainer) -> int:
    """Frames counted from the packets (no decoding) where the header does not say."""
    stream = container.streams.video[0]
    count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    container.seek(0)
    return count


def probe(path: Path) -> VideoInfo:
    """Frame count, rate, size, pixel format and streams of the clip at `path`."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        context = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise InputError(f"{path}: the video stream has no frame rate")
        frames = stream.frames or _count_frames(container)
        if frames <= 0:
            raise InputError(f"{path}: the video stream has no frames")
        return VideoInfo(
            path=path,
            frames=frames,
            rate=Fraction(rate),
            width=context.width,
            height=context.height,
            pixel_format=context.format.name if context.format else "yuv420p",
            codec=context.name,
            duration=float(frames / Fraction(rate)),
            streams=tuple(s.type for s in container.streams),
        )


def intact(path: Path) -> bool:
    """Does a written video still open and hold frames? (A truncated MP4 lacks its index.)"""
    try:
        return probe(path).frames > 0
    except InputError:
        return False


@dataclass(frozen=True)
class Chunk:
    """Consecutive frames of a clip: RGB to work on, and the decoded planes as they were (8-bit
    4:2:0 clips), so that pixels nothing changed are encoded from what was decoded, not from a
    round trip through RGB (which blurs the colour planes: about 1 dB at CRF 18)."""

    start: int  # index of its first frame in the clip
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    planes: np.ndarray | None = None  # (N, H * 3 // 2, W) uint8 yuv420p, as PyAV lays it out


def read_chunks(path: Path, chunk: int) -> Iterator[Chunk]:
    """Every `chunk` frames of the clip (the last chunk shorter), decoded in order."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rgb: list[np.ndarray] = []
        planes: list[np.ndarray] = []
        start = 0
        for frame in container.decode(stream):
            rgb.append(frame.to_ndarray(format="rgb24"))
            if _keeps_planes(frame.format.name, frame.height, frame.width):
                planes.append(frame.to_ndarray())
            if len(rgb) == chunk:
                yield _chunk(start, rgb, planes)
                start, rgb, planes = start + chunk, [], []
        if rgb:
            yield _chunk(start, rgb, planes)


def read_frames(path: Path, wanted: set[int]) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB: the frames of the clip whose indices are in `wanted`, in order
    (the others are decoded but not converted)."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        picked = [frame.to_ndarray(format="rgb24")
                  for index, frame in enumerate(container.decode(stream)) if index in wanted]
    if not picked:
        raise InputError(f"{path}: no frame could be decoded")
    return np.stack(picked)


def _keeps_planes(pixel_format: str, height: int, width: int) -> bool:
    return pixel_format == "yuv420p" and height % 2 == 0 and width % 2 == 0


def _chunk(start: int, rgb: list[np.ndarray], planes: list[np.ndarray]) -> Chunk:
    return Chunk(start, np.stack(rgb), np.stack(planes) if len(planes) == len(rgb) else None)


def _yuv_frame(pixels: np.ndarray, planes: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """The decoded `planes` with the `window` (rows, cols) of RGB `pixels` written in: the
    window widened to even bounds, so that its colour samples are whole."""
    converted = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
    new = converted.to_ndarray()
    height, width = pixels.shape[:2]
    out = planes.copy()
    rows, cols = window
    top, bottom = rows.start // 2 * 2, min(height, (rows.stop + 1) // 2 * 2)
    left, right = cols.start // 2 * 2, min(width, (cols.stop + 1) // 2 * 2)
    out[top:bottom, left:right] = new[top:bottom, left:right]
    for plane in (0, 1):  # U then V: (H/2, W/2) each, stored as H/4 rows of W
        first = height + plane * height // 4
        chroma = out[first:first + height // 4].reshape(height // 2, width // 2)
        fresh = new[first:first + height // 4].reshape(height // 2, width // 2)
        chroma[top // 2:bottom // 2, left // 2:right // 2] = \
            fresh[top // 2:bottom // 2, left // 2:right // 2]
    return out


def _video_frame(pixels: np.ndarray, planes: np.ndarray | None,
                 window: tuple[slice, slice] | None) -> av.VideoFrame:
    if planes is None or window is None:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    return av.VideoFrame.from_ndarray(_yuv_frame(pixels, planes, window), format="yuv420p")


def _writable_pixel_format(codec: str, wanted: str) -> str:
    formats = av.codec.Codec(codec, "w").video_formats or ()
    names = [f.name for f in formats]
    return wanted if wanted in names or not names else names[0]


def write_segment(chunk: Chunk, info: VideoInfo, encoding: Encoding, path: Path,
                  window: tuple[slice, slice] | None = None) -> Path:
    """Encode `chunk` as one video-only segment at `path` (written beside it first, renamed
    when complete). With `window` (rows, cols), pixels outside it are taken from the decoded
    planes where the chunk has them."""
    partial = path.with_name(path.name + ".partial.mp4")
    encoding = encoding.for_output(path)
    try:
        with av.open(str(partial), "w") as container:
            stream = container.add_stream(encoding.codec, rate=info.rate,
                                          options=encoding.options())
            stream.width, stream.height = info.width, info.height
            stream.pix_fmt = _writable_pixel_format(encoding.codec, info.pixel_format)
            stream.thread_type = "AUTO"
            for offset, pixels in enumerate(chunk.frames):
                planes = chunk.planes[offset] if chunk.planes is not None else None
                frame = _video_frame(pixels, planes, window)
                frame.pts = chunk.start + offset  # in the encoder's time base, 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except (av.FFmpegError, ValueError) as problem:
        partial.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot encode with {encoding.codec} ({problem})") from None
    os.replace(partial, path)
    return path


def join(segments: Sequence[Path], source: Path, output: Path, partial: Path) -> Path:
    """The output clip: the segments' video packets in order, with every audio and subtitle
    packet of `source` copied as it is, interleaved by time. Written to `partial` (on the
    output's file system) and renamed, so `output` is complete or absent."""
    try:
        _mux(segments, source, partial)
        with open(partial, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(partial, new_file_mode(output))
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output


def _packets(container: av.container.InputContainer, streams: list,
             targets: dict[int, av.stream.Stream]) -> Iterator[tuple[float, av.Packet]]:
    """(time in seconds, packet bound for its output stream) for the packets of `streams`."""
    for packet in container.demux(streams):
        if packet.dts is not None:
            when = float(packet.dts * packet.time_base)
            packet.stream = targets[packet.stream_index]
            yield when, packet


def _mux(segments: Sequence[Path], source: Path, path: Path) -> None:
    inputs = [av.open(str(s)) for s in segments]
    original = av.open(str(source))
    try:
        with av.open(str(path), "w", format=_format_for(path)) as out:
            template = inputs[0].streams.video[0]
            video = {template.index: out.add_stream_from_template(template)}
            if path.suffix.lower() == ".avi":  # AVI reads its frame rate off the time base
                video[template.index].time_base = 1 / template.average_rate
            kept = [s for s in original.streams if s.type in COPIED_KINDS]
            copies = {s.index: out.add_stream_from_template(s) for s in kept}
            picture = itertools.chain.from_iterable(
                _packets(c, [c.streams.video[0]], video) for c in inputs)
            copied = _packets(original, kept, copies) if kept else iter(())
            # Interleaved by time, so the muxer holds a few packets, not the whole clip.
            for _, packet in heapq.merge(picture, copied, key=lambda timed: timed[0]):
                out.mux(packet)
    except (av.FFmpegError, ValueError) as problem:
        raise InputError(f"{source}: cannot write its streams into {path.suffix} "
                         f"({problem})") from None
    finally:
        for container in (*inputs, original):
            container.close()


def _format_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4",
            ".avi": "avi"}.get(path.suffix.lower())
