"""One clip end to end (pipeline/video_job.py + video_recover.py) on tiny panned clips: the
format and audio kept, the photo recovered under the mark with the other frames' help, no
flicker, the rest changed only by the re-encode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from videokit import audio_packets, decode, logo, marked_clip, psnr, write_template

from pipeline.errors import NoMarkFound
from pipeline.io.video import probe
from pipeline.video_job import VideoJob, run_video, work_folder

SIZE = (96, 160)


def box_psnr(frames: np.ndarray, clean: np.ndarray, box) -> float:
    return float(np.mean([psnr(f[box], c[box]) for f, c in zip(frames, clean, strict=True)]))


def flicker(frames: np.ndarray, clean: np.ndarray, box) -> float:
    """Mean absolute frame-to-frame change in the box, less the clean clip's (8-bit levels)."""
    def change(clip):
        return np.abs(np.diff(clip[(slice(None), *box)].astype(np.float64), axis=0)).mean()
    return float(change(frames) - change(clean))


def far_psnr(frames: np.ndarray, decoded: np.ndarray, box, margin: int = 24) -> float:
    far = np.ones(SIZE, bool)
    rows, cols = box
    far[max(0, rows.start - margin):rows.stop + margin,
        max(0, cols.start - margin):cols.stop + margin] = False
    return float(np.mean([psnr(f[far], d[far]) for f, d in zip(frames, decoded, strict=True)]))


def plain_inverse(frames: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha[None, ..., None]
    values = (frames / 255 - a * colour[None]) / (1 - a)
    return (np.clip(values, 0, 1) * 255).round().astype(np.uint8)


def test_translucent_logo_recovered_with_the_other_frames(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=64, size=SIZE, opacity=0.55, crf=18)
    alpha, colour = logo(SIZE, (SIZE[0] - 30, SIZE[1] - 110), 100, 0.55)
    template = write_template(alpha, colour, tmp_path / "logo.png")
    result = run_video(VideoJob(clip.path, tmp_path / "clean.mp4", template=template, chunk=24))
    before, after = probe(clip.path), probe(result.output)
    assert (after.frames, after.rate, after.size, after.pixel_format, after.streams) == (
        before.frames, before.rate, before.size, before.pixel_format, before.streams)
    assert audio_packets(result.output) == audio_packets(clip.path)
    assert result.placement is not None and result.placement.left == SIZE[1] - 110
    decoded, output = decode(clip.path), decode(result.output)
    inverse = box_psnr(plain_inverse(decoded, alpha, colour), clip.clean, clip.box)
    recovered = box_psnr(output, clip.clean, clip.box)
    # Measured: 34.9 dB against the plain per-frame inverse's 29.5 dB.
    assert recovered >= 34 and recovered >= inverse + 4
    assert flicker(output, clip.clean, clip.box) <= 1.0  # measured 0.04
    assert far_psnr(output, decoded, clip.box) >= 40  # measured 41.2
    assert not work_folder(result.output).exists()


def opaque_mask(tmp_path) -> tuple[np.ndarray, object]:
    alpha, _ = logo(SIZE, (SIZE[0] - 30, SIZE[1] - 110), 100, 1.0)
    path = tmp_path / "mask.png"
    Image.fromarray(np.where(alpha > 1.5 / 255, 0, 255).astype(np.uint8)).save(path)
    return alpha, path


def test_opaque_logo_filled_from_the_frames_where_the_photo_moved(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=48, size=SIZE, opacity=1.0, crf=18)
    _, mask = opaque_mask(tmp_path)
    result = run_video(VideoJob(clip.path, tmp_path / "clean.mp4", mask=mask, chunk=16))
    output = decode(result.output)
    assert len(output) == 48
    assert box_psnr(output, clip.clean, clip.box) >= 31  # measured 32.9 (input 10.4)
    assert flicker(output, clip.clean, clip.box) <= 1.0  # measured 0.2


def test_opaque_logo_template_confirmed_and_removed(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=48, size=SIZE, opacity=1.0, crf=18,
                       photo="rocket")
    alpha, colour = logo(SIZE, (SIZE[0] - 30, SIZE[1] - 110), 100, 1.0)
    template = write_template(alpha, colour, tmp_path / "logo.png")
    result = run_video(VideoJob(clip.path, tmp_path / "clean.mp4", template=template, chunk=16))
    assert box_psnr(decode(result.output), clip.clean, clip.box) >= 33  # measured 35.5


def test_opaque_fill_carried_while_the_background_stands_still(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=40, size=SIZE, opacity=1.0, crf=18,
                       still=40)
    _, mask = opaque_mask(tmp_path)
    result = run_video(VideoJob(clip.path, tmp_path / "clean.mp4", mask=mask, chunk=16))
    output = decode(result.output)
    assert result.refills == 1  # filled once, carried through the still clip
    assert flicker(output, clip.clean, clip.box) <= 0.2  # measured 0.03
    assert box_psnr(output, clip.clean, clip.box) >= 27  # measured 29.7 (a classic fill)


def test_mark_estimated_from_sampled_frames(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=48, size=SIZE, opacity=0.55, crf=18,
                       photo="chelsea")
    result = run_video(VideoJob(clip.path, tmp_path / "clean.mp4", chunk=24))
    assert result.route == "estimated"
    assert box_psnr(decode(result.output), clip.clean, clip.box) >= 34  # measured 35.4


def test_clip_without_the_mark_is_refused_and_left_untouched(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=32, size=SIZE, mark=False)
    alpha, colour = logo(SIZE, (SIZE[0] - 30, SIZE[1] - 110), 100, 0.55)
    template = write_template(alpha, colour, tmp_path / "logo.png")
    before = clip.path.read_bytes()
    output = tmp_path / "clean.mp4"
    with pytest.raises(NoMarkFound, match="clip.mp4: watermark logo.png not found .*left "
                                          "untouched"):
        run_video(VideoJob(clip.path, output, template=template))
    assert clip.path.read_bytes() == before
    assert not output.exists() and not work_folder(output).exists()


def test_clip_without_a_mark_to_estimate_is_refused(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=32, size=SIZE, mark=False, crf=18)
    output = tmp_path / "clean.mp4"
    with pytest.raises(NoMarkFound, match="clip.mp4: no mark shared by the frames .*left "
                                          "untouched"):
        run_video(VideoJob(clip.path, output))
    assert not output.exists() and not work_folder(output).exists()
