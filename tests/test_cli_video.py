"""`unmark remove clip.mp4` as a user runs it: a subprocess, one-line refusals, and a run killed
with SIGKILL that goes on from its last finished chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from videokit import audio_packets, decode, logo, marked_clip, write_template

from pipeline.io.video import probe
from pipeline.video_job import work_folder

CLI = Path(__file__).resolve().parent.parent / "cli.py"
SIZE = (96, 160)


def command(*args: object) -> list[str]:
    return [sys.executable, str(CLI), "remove", *map(str, args)]


def template_for(tmp_path: Path) -> Path:
    alpha, colour = logo(SIZE, (SIZE[0] - 30, SIZE[1] - 110), 100, 0.55)
    return write_template(alpha, colour, tmp_path / "logo.png")


def test_a_clip_without_the_mark_is_refused_in_one_line(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=24, size=SIZE, mark=False)
    output = tmp_path / "clean.mp4"
    run = subprocess.run(command(clip.path, "--template", template_for(tmp_path), "-o", output),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "clip.mp4: watermark logo.png not found" in lines[0]
    assert "left untouched" in lines[0]
    assert not output.exists()


def chunks_done(output: Path) -> int:
    try:
        return json.loads((work_folder(output) / "state.json").read_text())["chunks_done"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_run_goes_on_from_its_last_chunk(tmp_path):
    clip = marked_clip(tmp_path / "clip.mp4", frames=96, size=SIZE, crf=18)
    output = tmp_path / "clean.mp4"
    args = command(clip.path, "--template", template_for(tmp_path), "-o", output,
                   "--chunk-frames", "4")
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while chunks_done(output) < 1:
        assert first.poll() is None and time.monotonic() < deadline, "no chunk finished"
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = chunks_done(output)
    assert 1 <= killed_at < 24 and not output.exists()  # killed mid-clip, nothing half-written
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "went on from frame" in rerun.stderr
    info = probe(output)
    assert info.frames == 96 and len(decode(output)) == 96
    assert audio_packets(output) == audio_packets(clip.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.mp4", "clip.mp4", "logo.png"]


def test_a_manifest_takes_videos_beside_images(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = marked_clip(clips / "a.mp4", frames=24, size=SIZE, crf=18)
    template_for(tmp_path)
    manifest = tmp_path / "videos.yaml"
    manifest.write_text("version: 1\noutput: out\njobs:\n"
                        "  - images: clips/*.mp4\n    template: logo.png\n")
    run = subprocess.run([sys.executable, str(CLI), "run", str(manifest)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr + run.stdout
    output = tmp_path / "out" / "a.mp4"
    assert probe(output).frames == 24 and audio_packets(output) == audio_packets(clip.path)
    status = subprocess.run([sys.executable, str(CLI), "status", str(manifest)],
                            capture_output=True, text=True, timeout=120)
    assert "1 done" in status.stdout + status.stderr, status.stdout + status.stderr
