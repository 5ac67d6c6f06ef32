"""Video in and out through PyAV (its wheels bundle FFmpeg): a probe into a typed VideoInfo,
frames out as numpy chunks (memory follows the chunk, not the clip), a chunk encoded as one
segment, and the segments joined with the input's audio and subtitle packets copied untouched,
written to a temporary file and renamed into place."""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import InputError
from pipeline.io.paths import new_file_mode

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}
COPIED_KINDS = ("audio", "subtitle")  # streams carried over packet for packet


@dataclass(frozen=True)
class Encoding:
    """How the cleaned video is written: visually lossless H.264 by default."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"

    def options(self) -> dict[str, str]:
        # No B-frames: each segment then starts and ends on its own timestamps, so segments
        # join without reordering across the seam.
        options = {"bf": "0"}
        if self.codec in ("libx264", "libx265"):
            options |= {"crf": str(self.crf), "preset": self.preset}
        elif self.codec.startswith("libvpx"):
            options |= {"crf": str(self.crf), "b": "0"}
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


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


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


def read_chunks(path: Path, chunk: int, first: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """(index of its first frame, (N, H, W, 3) uint8 RGB frames) for every `chunk` frames of
    the clip, the last one shorter; frames before `first` are decoded and skipped."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        batch: list[np.ndarray] = []
        start = index = 0
        for frame in container.decode(stream):
            if index >= first:
                if not batch:
                    start = index
                batch.append(frame.to_ndarray(format="rgb24"))
                if len(batch) == chunk:
                    yield start, np.stack(batch)
                    batch = []
            index += 1
        if batch:
            yield start, np.stack(batch)


def _writable_pixel_format(codec: str, wanted: str) -> str:
    formats = av.codec.Codec(codec, "w").video_formats or ()
    names = [f.name for f in formats]
    return wanted if wanted in names or not names else names[0]


def write_segment(frames: np.ndarray, first: int, info: VideoInfo, encoding: Encoding,
                  path: Path) -> Path:
    """Encode `frames` (N, H, W, 3) uint8, the clip's frames from index `first` on, as one
    video-only segment at `path` (written beside it first, renamed when complete)."""
    partial = path.with_name(path.name + ".partial.mp4")
    try:
        with av.open(str(partial), "w") as container:
            stream = container.add_stream(encoding.codec, rate=info.rate,
                                          options=encoding.options())
            stream.width, stream.height = info.width, info.height
            stream.pix_fmt = _writable_pixel_format(encoding.codec, info.pixel_format)
            stream.time_base = 1 / info.rate
            stream.thread_type = "AUTO"
            for offset, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = first + offset
                frame.time_base = stream.time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except av.FFmpegError as problem:
        partial.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot encode with {encoding.codec} ({problem})") from None
    os.replace(partial, path)
    return path


def join(segments: Sequence[Path], source: Path, output: Path) -> Path:
    """The output clip: the segments' video packets in order, then every audio and subtitle
    packet of `source` copied as it is. Written to a temporary file beside `output` and renamed,
    so `output` is complete or absent."""
    handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=output.suffix,
                                    dir=output.parent)
    os.close(handle)
    partial = Path(name)
    try:
        _mux(segments, source, partial)
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
            kept = [s for s in original.streams if s.type in COPIED_KINDS]
            copies = {s.index: out.add_stream_from_template(s) for s in kept}
            picture = itertools.chain.from_iterable(
                _packets(c, [c.streams.video[0]], video) for c in inputs)
            copied = _packets(original, kept, copies) if kept else iter(())
            # Interleaved by time, so the muxer holds a few packets, not the whole clip.
            for _, packet in heapq.merge(picture, copied, key=lambda timed: timed[0]):
                out.mux(packet)
    except av.FFmpegError as problem:
        raise InputError(f"{source}: cannot write its streams into {path.suffix} "
                         f"({problem})") from None
    finally:
        for container in (*inputs, original):
            container.close()


def _format_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4",
            ".avi": "avi"}.get(path.suffix.lower())
