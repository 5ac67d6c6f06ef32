from __future__ import annotations

import tracemalloc
import warnings

import cv2
import numpy as np
import pytest
from conftest import sample_photo
from PIL import Image

from pipeline.errors import InputError, UnmarkWarning
from pipeline.io.imaging import load_mask, load_picture, save_picture


def test_rgba_keeps_alpha_and_channels(tmp_path):
    rgba = np.asarray(sample_photo().convert("RGBA")).copy()
    rgba[..., 3] = np.arange(rgba.shape[1], dtype=np.uint8)[None, :] * 3
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    picture = load_picture(tmp_path / "a.png")
    assert picture.mode == "RGB" and picture.pixels.shape == (48, 64, 3)
    np.testing.assert_array_equal(picture.alpha, rgba[..., 3])
    save_picture(picture, tmp_path / "b.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), rgba)


def test_exif_orientation_is_applied_and_reset(tmp_path):
    photo = sample_photo()  # 64 wide, 48 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "unmark-test-camera"  # Make: must survive
    photo.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    picture = load_picture(tmp_path / "rotated.jpg")
    assert picture.size == (64, 48)  # (height, width): upright
    save_picture(picture, tmp_path / "out.jpg")
    written = Image.open(tmp_path / "out.jpg")
    assert written.size == (48, 64)
    assert written.getexif().get(0x0112) in (None, 1)  # already upright
    assert written.getexif().get(0x010F) == "unmark-test-camera"


def test_palette_grey_cmyk_and_16bit_round_trip(tmp_path):
    photo = sample_photo()
    photo.convert("P").save(tmp_path / "p.png")
    assert load_picture(tmp_path / "p.png").mode == "RGB"
    photo.convert("L").save(tmp_path / "l.png")
    grey = load_picture(tmp_path / "l.png")
    assert grey.pixels.shape == (48, 64, 1)
    photo.convert("CMYK").save(tmp_path / "c.jpg")
    assert load_picture(tmp_path / "c.jpg").pixels.shape[2] == 4
    deep = (np.asarray(photo, dtype=np.uint16) * 257 + 3)[..., ::-1]
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    picture = load_picture(tmp_path / "d.png")
    assert picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels, deep[..., ::-1])
    save_picture(picture, tmp_path / "e.png")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "e.png"), cv2.IMREAD_UNCHANGED), deep)


def test_icc_profile_is_kept(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    sample_photo().save(tmp_path / "icc.jpg", icc_profile=profile)
    save_picture(load_picture(tmp_path / "icc.jpg"), tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").info.get("icc_profile") == profile


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBA", "P"])
def test_mask_modes_black_means_remove(tmp_path, mode):
    mask = np.full((48, 64), 255, np.uint8)
    mask[10:20, 5:30] = 0
    Image.fromarray(mask).convert(mode).save(tmp_path / "m.png")
    hole = load_mask(tmp_path / "m.png", (48, 64))
    assert hole.sum() == 250 and hole[15, 10]
    assert (~load_mask(tmp_path / "m.png", (48, 64), invert=True)).sum() == 250


def test_transparent_mask_pixels_mean_keep(tmp_path):
    rgba = np.zeros((48, 64, 4), np.uint8)  # fully transparent black
    rgba[10:20, 5:30, 3] = 255  # opaque black strokes
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    assert load_mask(tmp_path / "m.png", (48, 64)).sum() == 250


def test_mask_of_same_aspect_is_resized_with_warning(tmp_path):
    mask = np.full((24, 32), 255, np.uint8)
    mask[5:10, 5:10] = 0
    Image.fromarray(mask).save(tmp_path / "m.png")
    with pytest.warns(UnmarkWarning, match="resized"):
        hole = load_mask(tmp_path / "m.png", (48, 64))
    assert hole.shape == (48, 64) and hole.sum() == 100


def test_mask_of_other_aspect_is_an_error(tmp_path):
    Image.new("L", (50, 50), 255).save(tmp_path / "m.png")
    with pytest.raises(InputError, match=r"m\.png: mask is 50x50 but the image is 64x48"):
        load_mask(tmp_path / "m.png", (48, 64))


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.png: no such file"):
        load_picture(tmp_path / "nope.png")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=r"junk\.jpg: not an image"):
        load_picture(tmp_path / "junk.jpg")
    sample_photo().save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png: corrupt or truncated"):
        load_picture(tmp_path / "cut.png")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    picture = load_picture_from(sample_photo(), tmp_path)
    (tmp_path / "out.png").write_bytes(b"previous result")
    with pytest.raises(InputError):
        save_picture(picture, tmp_path / "out.xyz")
    save_picture(picture, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]
    assert Image.open(tmp_path / "out.png").size == (64, 48)


def test_jpeg_output_is_high_quality(tmp_path):
    picture = load_picture_from(sample_photo(size=(128, 96)), tmp_path)
    save_picture(picture, tmp_path / "out.jpg")
    back = np.asarray(Image.open(tmp_path / "out.jpg"), dtype=np.float64)
    error = back - picture.pixels
    assert 10 * np.log10(255**2 / (error**2).mean()) > 38


def test_rgba_to_jpeg_drops_alpha_with_a_warning(tmp_path):
    sample_photo().convert("RGBA").save(tmp_path / "a.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_picture(load_picture(tmp_path / "a.png"), tmp_path / "a.jpg")
    assert any("alpha channel is dropped" in str(w.message) for w in caught)


def load_picture_from(image: Image.Image, folder):
    image.save(folder / "in.png")
    return load_picture(folder / "in.png")


def test_a_large_mask_is_read_without_a_float_copy(tmp_path):
    side = 3000
    pixels = np.full((side, side), 255, np.uint8)
    pixels[10:20, 10:20] = 0  # a 10x10 hole
    Image.fromarray(pixels).save(tmp_path / "big.png")
    tracemalloc.start()
    try:
        hole = load_mask(tmp_path / "big.png", (side, side))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hole.sum() == 100 and hole.dtype == bool
    assert peak < 3 * side * side  # bytes: a float64 copy alone would be 8 per pixel
