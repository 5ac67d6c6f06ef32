from __future__ import annotations

import re
from pathlib import Path

import pytest
from batchkit import manifest, mask, photo, tiny_settings
from PIL import Image

from pipeline.batch.manifest import AUTO_TEMPLATE, check_inputs, load_manifest
from pipeline.batch.schema import ManifestError
from pipeline.errors import InputError
from pipeline.settings import preset


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """The issue's example layout."""
    photo(tmp_path / "photos/a.jpg")
    mask(tmp_path / "photos/a_mask.png")
    for stem in ("s1", "s2"):
        photo(tmp_path / f"stock/{stem}.jpg")
        mask(tmp_path / f"stock/masks/{stem}.png")
    for index in range(3):
        photo(tmp_path / f"frames/f{index}.png", seed=index)
    mask(tmp_path / "frames/logo_mask.png")  # in the frames folder, matched by *.png
    photo(tmp_path / "catalogue/shoes/a.jpg")
    photo(tmp_path / "catalogue/hats/a.jpg")
    photo(tmp_path / "catalogue/hats/.hidden.jpg")
    (tmp_path / "catalogue/notes.txt").write_text("not a picture")
    Image.new("RGBA", (48, 32)).save(tmp_path / "marks.png")
    return tmp_path


EXAMPLE = """
    version: 1
    output: out/cleaned
    settings: {preset: default, steps: 1200}
    jobs:
      - image: photos/a.jpg
        mask: photos/a_mask.png
      - images: stock/*.jpg
        mask: stock/masks/{stem}.png
      - images: frames/*.png
        mask: frames/logo_mask.png
        invert_mask: false
      - images: catalogue/**/*.jpg
        template: marks.png
        settings: {steps: 800}
"""


def test_example_manifest_lists_every_job(library: Path) -> None:
    batch = load_manifest(manifest(library, EXAMPLE))
    out = library / "out/cleaned"
    assert batch.output == out
    keys = [item.key for item in batch.jobs]
    assert keys == ["a.jpg", "s1.jpg", "s2.jpg", "f0.png", "f1.png", "f2.png",
                    "hats/a.jpg", "shoes/a.jpg"]
    by_key = {item.key: item for item in batch.jobs}
    assert by_key["a.jpg"].job.mask == library / "photos/a_mask.png"
    assert by_key["s2.jpg"].job.mask == library / "stock/masks/s2.png"
    assert by_key["f1.png"].job.mask == library / "frames/logo_mask.png"  # shared, not a job
    assert by_key["hats/a.jpg"].job.output == out / "hats/a.jpg"  # ** keeps subfolders
    assert by_key["hats/a.jpg"].job.template == library / "marks.png"
    assert by_key["s1.jpg"].settings.steps == 1200
    assert by_key["shoes/a.jpg"].settings.steps == 800
    assert by_key["shoes/a.jpg"].settings.network == preset("default").network
    assert [item.line for item in batch.jobs[:2]] == [5, 7]


def test_settings_layer_preset_then_defaults_then_entry(tmp_path: Path) -> None:
    photo(tmp_path / "a.png")
    mask(tmp_path / "m.png")
    batch = load_manifest(manifest(tmp_path, """
        version: 1
        output: out
        settings: {preset: reference, steps: 7, lr: 0.5, network: {input_depth: 3}}
        jobs:
          - image: a.png
            mask: m.png
            invert_mask: true
            settings: {preset: fast, context: null, network: {channels_skip: [1, 1, 1, 1]}}
    """))
    settings = batch.jobs[0].settings
    fast = preset("fast")
    assert (settings.preset, settings.steps, settings.lr) == ("fast", 7, 0.5)
    assert settings.context is None
    assert settings.network.input_depth == 3
    assert settings.network.channels_skip == (1, 1, 1, 1)
    assert settings.network.channels_down == fast.network.channels_down
    assert batch.jobs[0].job.invert_mask


def test_globs_skip_earlier_outputs_and_masks(tmp_path: Path) -> None:
    for name in ("a", "b"):
        photo(tmp_path / f"pics/{name}.png")
        mask(tmp_path / f"pics/{name}_mask.png")
    photo(tmp_path / "pics/out/a.png")  # an earlier run's output inside the glob
    batch = load_manifest(manifest(tmp_path, """
        version: 1
        output: pics/out
        jobs:
          - images: pics/**/*.png
            mask: pics/{stem}_mask.png
    """))
    assert [item.key for item in batch.jobs] == ["a.png", "b.png"]
    beside = load_manifest(manifest(tmp_path, """
        version: 1
        output: .
        jobs: [{images: pics/*.png, mask: "pics/{stem}_mask.png"}]
    """, name="beside.yaml"))
    assert [item.job.output for item in beside.jobs] == [tmp_path / "a.png", tmp_path / "b.png"]


def test_template_auto_is_accepted_for_folders(tmp_path: Path) -> None:
    photo(tmp_path / "pics/a.png")
    batch = load_manifest(manifest(tmp_path, """
        version: 1
        output: out
        jobs:
          - images: pics/*.png
            template: auto
    """))
    assert batch.jobs[0].job.template == AUTO_TEMPLATE
    assert batch.jobs[0].job.mask is None


def test_tiny_settings_helper_parses(tmp_path: Path) -> None:
    photo(tmp_path / "a.png")
    mask(tmp_path / "m.png")
    batch = load_manifest(manifest(tmp_path, f"""
        version: 1
        output: out
        settings: {tiny_settings(5)}
        jobs: [{{image: a.png, mask: m.png}}]
    """))
    assert batch.jobs[0].settings.steps == 5
    assert batch.jobs[0].settings.network.channels_down == (8, 8)


def error_for(root: Path, body: str) -> str:
    path = manifest(root, body)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    return message


BASE = """
    version: 1
    output: out
    jobs:
      - image: a.png
        mask: m.png
"""


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        (BASE.replace("output:", "ouput:"), 2, "ouput", "did you mean 'output'"),
        (BASE + "        settings: {stpes: 3}\n", 6, "jobs[0].settings.stpes",
         "did you mean 'steps'"),
        (BASE + "        settings:\n          steps: many\n", 7, "jobs[0].settings.steps",
         "valid integer"),
        (BASE + "        settings: {preset: quick}\n", 6, "jobs[0].settings.preset", "'fast'"),
        (BASE.replace("version: 1", "version: 2"), 1, "version", "1"),
        (BASE.replace("version: 1\n", ""), 1, "version", "missing"),
        (BASE.replace("      - image: a.png\n        mask: m.png\n", "      []\n"), 3, "jobs",
         "no jobs"),
        (BASE + "        images: '*.png'\n", 4, "jobs[0]", "exactly one"),
        (BASE.replace("image: a.png", "invert_mask: true"), 4, "jobs[0]", "'image'"),
        (BASE + "        template: t.png\n", 4, "jobs[0]", "'mask' or 'template'"),
        (BASE.replace("mask: m.png", "template: auto"), 5, "jobs[0].template", "'images'"),
        (BASE.replace("image: a.png", "images: '*.png'").replace("m.png", "'{stemm}.png'"), 5,
         "jobs[0].mask", "{stemm}"),
        (BASE.replace("image: a.png", "images: nothing/*.png"), 4, "jobs[0].images",
         "matches no images"),
        (BASE + "      - images: '*.png'\n        mask: m.png\n", 6, "jobs[1].images",
         "jobs[0] (line 4) also writes"),
        (BASE.replace("output: out", "output: ."), 2, "output", "overwrite the input"),
        (BASE + "        mask: n.png\n", 6, "jobs[0].mask", "written twice"),
        (BASE + "        settings: {network: {channels_down: [8]}}\n", 6,
         "jobs[0].settings.network", "same length"),
        (BASE.replace("image: a.png", "image: a.gif"), 4, "jobs[0].image", "cannot write '.gif'"),
        (BASE + "        settings: [unclosed\n", 7, "", "not valid YAML"),
    ],
    ids=["typo", "setting-typo", "setting-type", "preset", "version", "no-version", "no-jobs",
         "image-and-images", "no-image", "mask-and-template", "auto-single", "placeholder",
         "empty-glob", "collision", "overwrite-input", "repeated-key", "network-levels",
         "unwritable", "yaml-syntax"],
)
def test_errors_name_manifest_line_and_field(
    tmp_path: Path, body: str, line: int, field: str, words: str
) -> None:
    photo(tmp_path / "a.png")
    mask(tmp_path / "m.png")
    message = error_for(tmp_path, body)
    located = [text for text in message.splitlines()
               if re.match(rf"^\S+:{line}: {re.escape(field)}", text)]
    assert located and words in located[0], message


def test_empty_and_missing_manifests(tmp_path: Path) -> None:
    assert "is empty" in error_for(tmp_path, "# nothing\n")
    with pytest.raises(InputError, match="no such manifest"):
        load_manifest(tmp_path / "absent.yaml")


def test_every_schema_error_is_reported_at_once(tmp_path: Path) -> None:
    message = error_for(tmp_path, BASE.replace("output: out", "output: out\n    extra: 1")
                        + "        settings: {steps: x}\n")
    lines = message.splitlines()
    assert len(lines) == 2
    assert ":3: extra:" in lines[0] and ":7: jobs[0].settings.steps:" in lines[1]


def test_check_inputs_decodes_without_optimising(tmp_path: Path) -> None:
    photo(tmp_path / "good.png")
    photo(tmp_path / "small_mask_job.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    photo(tmp_path / "skewed.png")
    mask(tmp_path / "m.png")
    mask(tmp_path / "half.png", size=(16, 24))  # same aspect: resized, with a warning
    mask(tmp_path / "wide.png", size=(32, 96))  # other aspect: fails
    batch = load_manifest(manifest(tmp_path, """
        version: 1
        output: out
        jobs:
          - {image: good.png, mask: m.png}
          - {image: small_mask_job.png, mask: half.png}
          - {image: corrupt.png, mask: m.png}
          - {image: skewed.png, mask: wide.png}
          - {image: missing.png, mask: m.png}
    """))
    checks = {check.item.key: check for check in check_inputs(batch)}
    assert checks["good.png"].problem is None and not checks["good.png"].warnings
    assert checks["small_mask_job.png"].problem is None
    assert "resized" in checks["small_mask_job.png"].warnings[0]
    assert "corrupt" in checks["corrupt.png"].problem
    assert "aspect ratio" in checks["skewed.png"].problem
    assert "no such file" in checks["missing.png"].problem
    assert not (tmp_path / "out").exists()
