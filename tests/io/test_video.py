"""pipeline/io/video.py: probe, chunked decode, segments joined with the audio copied."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from videokit import audio_packets, decode, encode, panned, psnr

from pipeline.errors import InputError
from pipeline.io.video import Encoding, join, probe, read_chunks, write_segment


@pytest.fixture
def clip(tmp_path):
    return encode(panned("chelsea", 40, (96, 160)), tmp_path / "clip.mp4", crf=18)


def test_probe_reads_what_the_clip_is(clip):
    info = probe(clip)
    assert (info.frames, info.rate, info.width, info.height) == (40, Fraction(25), 160, 96)
    assert info.pixel_format == "yuv420p" and info.streams == ("video", "audio")
    assert info.duration == pytest.approx(1.6)


def test_chunks_cover_every_frame_once(clip):
    chunks = list(read_chunks(clip, 16))
    assert [c.start for c in chunks] == [0, 16, 32]
    assert [len(c.frames) for c in chunks] == [16, 16, 8]
    assert chunks[0].frames.shape[1:] == (96, 160, 3)
    assert np.array_equal(np.concatenate([c.frames for c in chunks]), decode(clip))


def test_segments_join_into_the_same_clip_with_its_audio(clip, tmp_path):
    info = probe(clip)
    nothing = (slice(0, 0), slice(0, 0))  # every pixel from the decoded planes
    segments = [write_segment(chunk, info, Encoding(), tmp_path / f"s{chunk.start}.mp4", nothing)
                for chunk in read_chunks(clip, 16)]
    output = join(segments, clip, tmp_path / "out.mp4", tmp_path / "joining.mp4")
    again = probe(output)
    assert (again.frames, again.rate, again.size, again.pixel_format, again.streams) == (
        info.frames, info.rate, info.size, info.pixel_format, info.streams)
    assert again.duration == pytest.approx(info.duration)
    assert audio_packets(output) == audio_packets(clip)
    assert len(audio_packets(clip)) > 10
    before, after = decode(clip), decode(output)
    reencoded = [psnr(a, b) for a, b in zip(after, before, strict=True)]
    assert np.mean(reencoded) >= 40  # the re-encode only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4", "s0.mp4",
                                                          "s16.mp4", "s32.mp4"]


def test_other_pixel_formats_are_kept_through_rgb(tmp_path):
    clip = encode(panned("coffee", 12, (96, 160)), tmp_path / "full.mp4", crf=18, audio=False,
                  pixel_format="yuv444p")
    info = probe(clip)
    chunks = list(read_chunks(clip, 8))
    assert info.pixel_format == "yuv444p" and all(c.planes is None for c in chunks)
    segments = [write_segment(c, info, Encoding(), tmp_path / f"s{c.start}.mp4") for c in chunks]
    output = join(segments, clip, tmp_path / "out.mp4", tmp_path / "joining.mp4")
    again = probe(output)
    assert (again.pixel_format, again.frames, again.streams) == ("yuv444p", 12, ("video",))
    assert np.mean([psnr(a, b) for a, b in zip(decode(output), decode(clip), strict=True)]) >= 38


def test_not_a_video_is_one_clear_error(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    with pytest.raises(InputError, match="notes.mp4: not a video"):
        probe(fake)
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")
