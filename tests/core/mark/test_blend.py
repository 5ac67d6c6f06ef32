"""Template mode on the shipped stock samples: a translucent logo blended at known opacity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import SAMPLES, hole_psnr
from PIL import Image

from pipeline.core.fill.restore import restore
from pipeline.core.learn.estimate import estimate_mark
from pipeline.core.mark.blend import Mark, recover
from pipeline.core.mark.placement import Placement, locate, place
from pipeline.errors import NoMarkFound
from pipeline.io.imaging import load_picture
from pipeline.io.marks import load_mark
from pipeline.job import Job, run_job


def window(picture, top: int, left: int, height: int, width: int):
    pixels = picture.pixels[top : top + height, left : left + width]
    return picture.with_pixels(np.ascontiguousarray(pixels))


def test_template_mode_recovers_far_more_than_mask_mode(tiny_settings):
    # a window around the first letters of the logo keeps the test fast
    marked = window(load_picture(SAMPLES / "stock" / "coffee.png"), 80, 70, 48, 64)
    truth = np.asarray(Image.open(SAMPLES / "clean" / "coffee.stock.png"))[80:128, 70:134]
    full = load_mark(SAMPLES / "marks" / "logo.png")
    mark = Mark(alpha=full.alpha[80:128, 70:134], colour=full.colour[:, 80:128, 70:134])
    footprint = mark.alpha > 0
    assert footprint.mean() > 0.1
    settings = dataclasses.replace(tiny_settings, steps=60)
    by_template = recover(marked, mark, settings).picture.pixels
    by_mask = restore(marked, footprint, settings).pixels
    np.testing.assert_array_equal(by_template[~footprint], marked.pixels[~footprint])
    template_psnr = hole_psnr(by_template, truth, footprint)
    assert template_psnr > hole_psnr(by_mask, truth, footprint) + 6
    assert template_psnr > 35


def test_a_shifted_and_scaled_logo_is_found():
    tight = load_mark(SAMPLES / "marks" / "logo-tight.png")
    photo = load_picture(SAMPLES / "clean" / "chelsea.stock.png").as_float()
    truth = Placement(top=120, left=40, scale=1.3, confidence=1.0)
    mark = place(tight, truth, photo.shape[1:])
    marked = mark.alpha * mark.colour + (1 - mark.alpha) * photo
    found = locate(tight, marked)
    assert abs(found.top - truth.top) <= 2 and abs(found.left - truth.left) <= 2
    assert abs(found.scale - truth.scale) / truth.scale < 0.05
    assert found.confidence > 0.6


def test_a_photo_without_the_logo_fails_its_job_and_is_untouched(tmp_path, tiny_settings):
    clean = SAMPLES / "clean" / "rocket.stock.png"
    output = tmp_path / "rocket.png"
    job = Job(image=clean, output=output, template=SAMPLES / "marks" / "logo-tight.png")
    with pytest.raises(NoMarkFound, match="rocket.stock.png: watermark logo-tight.png not found"):
        run_job(job, tiny_settings)
    assert not output.exists()


def test_a_tight_logo_job_cleans_the_photo(tmp_path, tiny_settings):
    output = tmp_path / "astronaut.png"
    job = Job(image=SAMPLES / "stock" / "astronaut.png", output=output,
              template=SAMPLES / "marks" / "logo-tight.png")
    result = run_job(job, dataclasses.replace(tiny_settings, steps=20))
    full = load_mark(SAMPLES / "marks" / "logo.png")
    rows, cols = np.nonzero(full.alpha > 0)
    assert abs(result.placement.top - rows.min()) <= 2
    assert abs(result.placement.left - cols.min()) <= 2
    truth = np.asarray(Image.open(SAMPLES / "clean" / "astronaut.stock.png"))
    result = np.asarray(Image.open(output))
    assert hole_psnr(result, truth, full.alpha > 0) > 30


def test_estimation_recovers_the_footprint_from_ten_images():
    mark = load_mark(SAMPLES / "marks" / "logo.png")
    truth = mark.alpha > 0
    photos = [np.asarray(Image.open(p), dtype=np.float32) / 255
              for p in sorted(SAMPLES.glob("clean/*.png")) if ".stock" not in p.name]
    images = []
    for index in range(10):  # ten backgrounds: the four photos, flipped three ways
        photo = photos[index % len(photos)][:208]
        photo = [photo, photo[::-1], photo[:, ::-1]][index // len(photos)]
        crop = photo.transpose(2, 0, 1)
        images.append(mark.alpha * mark.colour + (1 - mark.alpha) * crop)
    estimated = estimate_mark(np.stack(images))
    found = estimated.alpha > 0
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou >= 0.8
