"""One video end to end: the clip's mark found once (a template placed on the sampled frames'
median, one mask for every frame, or the mark estimated from sampled frames), then chunk by chunk
the frames recovered (pipeline/video_recover.py) and encoded as segments in a hidden work folder
beside the output, with a small state file written after each. A killed run goes on from its last
finished chunk; the segments are joined with the input's audio and subtitles at the end, into a
temporary file renamed into place."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.core.fill.restore import check_hole
from pipeline.core.learn.estimate_sizes import estimate_pictures
from pipeline.core.mark.blend import Mark
from pipeline.core.mark.placement import (
    MIN_CONFIDENCE_IN_PLACE,
    Placement,
    locate,
    place,
    threshold,
)
from pipeline.core.mark.verify import verify
from pipeline.errors import InputError, NoMarkFound
from pipeline.io.imaging import Picture, load_mask
from pipeline.io.marks import load_mark
from pipeline.io.paths import check_not_an_input, check_output
from pipeline.io.video import (
    Chunk,
    Encoding,
    VideoInfo,
    is_video,
    join,
    probe,
    read_chunks,
    read_frames,
    write_segment,
)
from pipeline.video_check import confirmed_on_frames
from pipeline.video_recover import RADIUS, ClipMark, FillCarry, recover_frames

SAMPLES = 16  # frames a template is found and confirmed on
# frames a mark is estimated on (the joint matte's time grows with them; 8 of a 48-frame test clip
# gave the same 35.4 dB as 16)
ESTIMATE_SAMPLES = 8
CHUNK = 48  # frames decoded, recovered and encoded together
FrameProgress = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True)
class VideoJob:
    video: Path
    output: Path
    mask: Path | None = None
    template: Path | None = None
    invert_mask: bool = False
    encoding: Encoding = field(default_factory=Encoding)
    chunk: int = CHUNK

    @property
    def route(self) -> str:
        return "template" if self.template else "mask" if self.mask else "estimated"


@dataclass(frozen=True)
class VideoResult:
    output: Path
    info: VideoInfo
    route: str  # "template", "mask" or "estimated"
    placement: Placement | None  # template route: where the mark was found
    frames: int  # frames written
    resumed_from: int  # the frame this run went on from (0: from the start)
    seconds: float
    refills: int  # times pixels no frame showed were filled afresh (the rest carried)

    def summary(self) -> str:
        """What `remove` says once the video is written."""
        found = f" ({self.placement.describe()})" if self.placement else ""
        resumed = f", went on from frame {self.resumed_from}" if self.resumed_from else ""
        return (f"wrote {self.output}: {self.frames} frames, "
                f"{self.frames / max(self.seconds, 1e-6):.1f} fps{resumed}{found}")


def work_folder(output: Path) -> Path:
    """The hidden folder beside the output where segments and the run's state live."""
    return output.with_name(f".{output.name}.unmark-video")


def check_video_job(job: VideoJob) -> None:
    if not is_video(job.output):
        raise InputError(f"{job.output}: a video's output must be a video file "
                         "(.mp4 .mov .mkv .webm .avi)")
    check_output(job.output)
    check_not_an_input(job.output, [("video", job.video), ("mask", job.mask),
                                    ("template", job.template)])
    if job.mask is not None and job.template is not None:
        raise InputError(f"{job.video}: give at most one of --mask or --template")
    if job.chunk < 1:
        raise InputError(f"{job.video}: chunks need at least one frame")


def sample_frames(path: Path, info: VideoInfo, count: int = SAMPLES) -> np.ndarray:
    """(N, H, W, 3) uint8: `count` frames spread evenly over the clip."""
    wanted = np.linspace(0, info.frames - 1, min(count, info.frames)).round().astype(int)
    return read_frames(path, set(wanted.tolist()))


def _refused(job: VideoJob, why: str) -> NoMarkFound:
    return NoMarkFound(f"{job.video}: {why}; the video was left untouched")


def find_mark(job: VideoJob, info: VideoInfo) -> tuple[Mark, Placement | None]:
    """The clip's mark over the whole frame, and where a template was found; raises
    NoMarkFound when the clip does not carry it."""
    if job.mask is not None:
        hole = load_mask(job.mask, info.size, invert=job.invert_mask)
        check_hole(hole, str(job.mask))
        if not hole.any():
            raise InputError(f"{job.mask}: the mask is empty")
        return Mark(hole.astype(np.float32), np.zeros((3, *info.size), np.float32)), None
    if job.template is None:
        return _estimated(job, sample_frames(job.video, info, ESTIMATE_SAMPLES)), None
    return _placed(job, info, sample_frames(job.video, info, SAMPLES))


def _median(samples: np.ndarray) -> np.ndarray:
    return np.median(samples, axis=0).astype(np.float32).transpose(2, 0, 1) / 255


def _estimated(job: VideoJob, samples: np.ndarray) -> Mark:
    """The mark the folder estimator finds on the sampled frames, once the frames confirm it."""
    pictures = [Picture(pixels=f, mode="RGB", source=f"{job.video} frame", lossy=True)
                for f in samples]
    try:
        mark = estimate_pictures(pictures, str(job.video)).mark
    except InputError as problem:
        raise _refused(job, f"no mark estimated from {len(samples)} sampled frames "
                       f"({problem})") from None
    # Frames without a mark still share something (noise, a faint smear); a real mark's outline
    # shows in their median as a template's does in a photo, and its blend model is confirmed
    # frame by frame.
    shows = verify(mark, _median(samples), lossy=True).before
    if shows < MIN_CONFIDENCE_IN_PLACE:
        raise _refused(job, f"no mark shared by the frames (the estimate's outline shows "
                       f"{shows:.2f} < {MIN_CONFIDENCE_IN_PLACE} in their median)")
    problem = confirmed_on_frames(mark, samples)
    if problem is not None:
        raise _refused(job, f"the estimated mark is not confirmed ({problem})")
    return mark


def _placed(job: VideoJob, info: VideoInfo, samples: np.ndarray) -> tuple[Mark, Placement]:
    """The template found on the sampled frames' median (the mark is sharp there, the moving
    background blurred), confirmed on the frames themselves when the median alone does not."""
    template = load_mark(job.template, channels=3)
    found = locate(template, _median(samples), lossy=True)
    needed = threshold(template, info.size)
    name = job.template.name
    if found.confidence < needed:
        raise _refused(job, f"watermark {name} not found (best match {found.confidence:.2f} "
                       f"< {needed})")
    placed = place(template, found, info.size)
    if found.problem is not None:
        problem = confirmed_on_frames(placed, samples)
        if problem is not None:
            raise _refused(job, f"watermark {name} not found (best match at x={found.left}, "
                           f"y={found.top}: {problem})")
    return placed, replace(found, problem=None)


@dataclass
class RunState:
    """What a killed run leaves for the next one: which inputs, how many chunks are done."""

    key: str
    chunks_done: int = 0
    placement: dict | None = None

    @classmethod
    def load(cls, folder: Path, key: str) -> RunState | None:
        try:
            data = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(**data) if data.get("key") == key else None

    def save(self, folder: Path) -> None:
        partial = folder / "state.json.partial"
        partial.write_text(json.dumps(asdict(self)))
        os.replace(partial, folder / "state.json")


def run_key(job: VideoJob) -> str:
    """The inputs and settings a run's segments depend on: a changed one starts over."""
    parts = [repr((job.chunk, job.encoding, job.invert_mask, job.route))]
    for path in (job.video, job.mask, job.template):
        if path is not None:
            stat = Path(path).stat()
            parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _prepare(job: VideoJob, info: VideoInfo, folder: Path) -> tuple[Mark, RunState]:
    """The mark and state of a run: a killed run's when the inputs are the same, else new."""
    key = run_key(job)
    state = RunState.load(folder, key)
    saved = folder / "mark.npz"
    if state is not None and saved.is_file():
        with np.load(saved) as stored:
            return Mark(stored["alpha"], stored["colour"]), state
    mark, placement = find_mark(job, info)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with open(folder / "mark.partial.npz", "wb") as stream:
        np.savez(stream, alpha=mark.alpha, colour=mark.colour)
    os.replace(folder / "mark.partial.npz", saved)
    state = RunState(key, 0, placement.as_dict() if placement else None)
    state.save(folder)
    return mark, state


def _with_next(chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, Chunk | None]]:
    """Each chunk with the one after it (None for the last)."""
    current = next(chunks, None)
    for following in chunks:
        yield current, following
        current = following
    if current is not None:
        yield current, None


def run_video(job: VideoJob, progress: FrameProgress | None = None) -> VideoResult:
    """Clean `job.video` into `job.output`; raises NoMarkFound (nothing written) when the clip
    does not carry the mark."""
    started = time.monotonic()
    check_video_job(job)
    job = replace(job, encoding=job.encoding.for_output(job.output))
    info = probe(job.video)
    folder = work_folder(job.output)
    mark, state = _prepare(job, info, folder)
    clip = ClipMark.around(mark)
    rows, cols = clip.window
    carry, before = FillCarry(), np.zeros((0, rows.stop - rows.start, cols.stop - cols.start, 3),
                                         np.uint8)
    segments, resumed, written = [], state.chunks_done * job.chunk, 0
    for index, (chunk, following) in enumerate(_with_next(read_chunks(job.video, job.chunk))):
        windows = chunk.frames[:, rows, cols]
        segment = folder / f"segment{index:06d}.mp4"
        segments.append(segment)
        if index >= state.chunks_done or not segment.is_file():
            after = following.frames[:RADIUS, rows, cols] if following else before[:0]
            stack = np.concatenate([before, windows, after])
            targets = range(len(before), len(before) + len(windows))
            cleaned = chunk.frames.copy()
            cleaned[:, rows, cols] = recover_frames(stack, clip.local, targets, carry)
            write_segment(replace(chunk, frames=cleaned), info, job.encoding, segment,
                          clip.window)
            state.chunks_done = index + 1
            state.save(folder)
        before = windows[-RADIUS:]
        written = chunk.start + len(chunk.frames)
        if progress is not None:
            progress(written, info.frames)
    try:
        join(segments, job.video, job.output, folder / f"joined{job.output.suffix}")
    except InputError:  # the container cannot hold these streams: a rerun would fail the same
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    placement = Placement.from_dict(state.placement) if state.placement else None
    return VideoResult(job.output, info, job.route, placement, written, resumed,
                       time.monotonic() - started, carry.refills)
