"""The studio in a real headless Chromium driven through Selenium with real pointer events:
paint a stroke over the mark, save the mask, preview the fill, run the batch, review it."""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from studiokit import HOSTILE_NAME, SAMPLES, Started, grey, rgb, sample_folder

from pipeline.batch.manifest import load_manifest
from pipeline.batch.review import GHOST, residual

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
BRUSH = 40
# (y, x from, x to) of a stroke across each sample's mark (its shipped mask spans these rows).
STROKES = {"coffee": (172, 78, 238), "rocket": (173, 80, 180)}  # lengths: tens
SHOTS = os.environ.get("UNMARK_STUDIO_SCREENSHOTS")  # a folder: save a picture of each page

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="chromium and chromedriver are not installed (apt-get install chromium "
           "chromium-driver; .ci/run installs them)",
)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,800",
                 "--disable-dev-shm-usage", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1200, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def wait_for(check, seconds: float = 60, what: str = "the page"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def by_testid(driver, name: str):
    return driver.find_element("css selector", f'[data-testid="{name}"]')


def drag_stroke(driver, stroke: tuple[int, int, int]) -> None:
    """A real pointer drag across the mask canvas, from (x0, y) to (x1, y) in image pixels."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = by_testid(driver, "mask-canvas")
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                "return [r.width, r.height, arguments[0].width];", canvas)
    scale = box[0] / box[2]
    y, x0, x1 = stroke
    to_centre = (x0 * scale - box[0] / 2, y * scale - box[1] / 2)
    actions = ActionChains(driver, duration=10)
    actions.move_to_element_with_offset(canvas, round(to_centre[0]), round(to_centre[1]))
    actions.click_and_hold()
    for _ in range(10):
        actions.move_by_offset(int((x1 - x0) * scale / 10), 0)
    actions.release().perform()


def set_brush(driver, size: int) -> None:
    slider = by_testid(driver, "brush-size")
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input'));", slider, size)


def shoot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"studio-{name}.png"))


def under_stroke(shape: tuple[int, int], stroke: tuple[int, int, int], margin: int) -> np.ndarray:
    """(H, W) bool: within the brush's radius (plus `margin`) of the stroke's segment."""
    y, x0, x1 = stroke
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    nearest = np.clip(cols, x0, x1)
    return np.hypot(cols - nearest, rows - y) <= BRUSH / 2 + margin


def painted(driver) -> int:
    """Pixels of the mask layer painted now."""
    return driver.execute_script(
        "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height);"
        "let n = 0; for (let i = 3; i < d.data.length; i += 4) n += d.data[i] > 32; return n;",
        by_testid(driver, "mask-canvas"))


def keys(driver, *chord: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    for key in chord[:-1]:
        actions.key_down(key)
    actions.send_keys(chord[-1])
    for key in reversed(chord[:-1]):
        actions.key_up(key)
    actions.perform()


def check_undo_and_keys(driver) -> None:
    """Undo empties the stroke, Ctrl+Shift+Z brings it back, `]` and `[` change the brush."""
    from selenium.webdriver.common.keys import Keys

    stroke = painted(driver)
    by_testid(driver, "undo").click()
    assert stroke > 0 and painted(driver) == 0
    keys(driver, Keys.CONTROL, Keys.SHIFT, "z")
    assert painted(driver) == stroke
    keys(driver, "]")
    assert int(by_testid(driver, "brush-size").get_attribute("value")) > BRUSH
    keys(driver, "[")
    set_brush(driver, BRUSH)


def paint_and_save(driver, folder: Path, name: str) -> np.ndarray:
    wait_for(lambda: f"{name}.jpg" in by_testid(driver, "image-name").text, what=name)
    set_brush(driver, BRUSH)
    drag_stroke(driver, STROKES[name])
    check_undo_and_keys(driver)
    by_testid(driver, "save-mask").click()
    saved = folder / "studio-masks" / f"{name}.png"
    wait_for(saved.is_file, what=f"{saved}")
    black = grey(saved) < 128
    assert black[under_stroke(black.shape, STROKES[name], -3)].all()  # the stroke is painted
    assert not black[~under_stroke(black.shape, STROKES[name], 3)].any()  # nothing else
    shipped = grey(SAMPLES / "masks" / f"{name}.png") < 128
    assert black[shipped].mean() > 0.97  # it covers the mark
    return black


def test_paint_preview_run_and_review(tmp_path, browser):
    folder = sample_folder(tmp_path / "photos")
    studio = Started(folder, "--steps", "0", "--devices", "cpu")
    try:
        browser.get(studio.address)
        # The file named like a tag is listed first, as text: no element, no script ran.
        wait_for(lambda: HOSTILE_NAME in by_testid(browser, "image-name").text, what="the list")
        assert not browser.find_elements("css selector", 'img[src="x"]')
        by_testid(browser, "next-image").click()
        black = paint_and_save(browser, folder, "coffee")
        shoot(browser, "paint")

        by_testid(browser, "preview").click()
        shown = wait_for(lambda: browser.execute_script(
            "const i = arguments[0]; return i.src.includes('/api/preview/') && i.complete &&"
            " i.naturalWidth > 0 && i.src;", by_testid(browser, "result-image")), what="preview")
        with urllib.request.urlopen(shown, timeout=10) as answer:
            result = rgb(BytesIO(answer.read()))
        before = rgb(folder / "coffee.jpg")
        # The white letters of the mark (bright pixels of the input under the shipped mask)
        # are no longer white, and the project's own check no longer sees the mark's edges.
        letters = (grey(SAMPLES / "masks" / "coffee.png") < 128) & (before.mean(axis=2) > 200)
        assert letters.sum() > 300
        assert (result.mean(axis=2)[letters] > 200).mean() < 0.05
        check = residual(before, result, black.astype(np.float32), from_template=False)
        assert check.ghost_before > 0.9 and check.ghost < GHOST, check
        assert np.abs(result - before)[~black].max() <= 1  # nothing else changed
        slider = by_testid(browser, "compare")  # before on the right half, after on the left
        browser.execute_script("arguments[0].value = 50;"
                               "arguments[0].dispatchEvent(new Event('input'));", slider)
        assert "50%" in by_testid(browser, "result-image").get_attribute("style")
        shoot(browser, "preview")

        by_testid(browser, "tab-paint").click()
        by_testid(browser, "next-image").click()
        paint_and_save(browser, folder, "rocket")
        by_testid(browser, "tab-review").click()
        by_testid(browser, "run-batch").click()
        wait_for(lambda: by_testid(browser, "progress").get_attribute("data-state") == "done",
                 seconds=150, what="the batch")
        told = by_testid(browser, "progress").text
        for name in ("coffee", "rocket"):
            assert (folder / "cleaned" / f"{name}.jpg").is_file(), told
        listed = wait_for(lambda: by_testid(browser, "review-list").find_elements(
            "css selector", "li h2"), what="the review")
        assert sorted(item.text for item in listed) == ["coffee.jpg", "rocket.jpg"]
        assert len(load_manifest(folder / "studio.yaml").jobs) == 2  # `unmark run` reads it
        shoot(browser, "review")
    finally:
        studio.stop()
