from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from batchkit import mask, photo

from pipeline.batch.manifest import AUTO_TEMPLATE
from pipeline.batch.scaffold import pair, scaffold, write
from pipeline.errors import InputError


def test_pairs_by_stem_and_lists_what_it_could_not_pair(tmp_path: Path) -> None:
    for stem in ("a", "b", "c", "d"):
        photo(tmp_path / f"photos/{stem}.jpg")
    mask(tmp_path / "masks/a.png")
    mask(tmp_path / "masks/b_mask.png")
    mask(tmp_path / "masks/c-mask.jpg")
    mask(tmp_path / "masks/c.png")  # preferred over c-mask.jpg: exact stem first
    mask(tmp_path / "masks/zebra.png")
    pairs, unpaired, unused = pair(tmp_path / "photos", tmp_path / "masks")
    assert {i.name: m.name for i, m in pairs.items()} == {
        "a.jpg": "a.png", "b.jpg": "b_mask.png", "c.jpg": "c.png"}
    assert [p.name for p in unpaired] == ["d.jpg"]
    assert sorted(p.name for p in unused) == ["c-mask.jpg", "zebra.png"]


def test_stems_that_differ_only_by_a_prefix_pair_by_their_number(tmp_path: Path) -> None:
    for index in (1, 2, 3):
        photo(tmp_path / f"photos/watermarked{index}.jpg", seed=index)
        mask(tmp_path / f"masks/mask{index}.png")
    photo(tmp_path / "photos/watermarked4.jpg")  # no mask 4
    mask(tmp_path / "masks/mask7.png")  # no photo 7
    pairs, unpaired, unused = pair(tmp_path / "photos", tmp_path / "masks")
    assert {i.name: m.name for i, m in pairs.items()} == {
        "watermarked1.jpg": "mask1.png", "watermarked2.jpg": "mask2.png",
        "watermarked3.jpg": "mask3.png"}
    assert [p.name for p in unpaired] == ["watermarked4.jpg"]
    assert [p.name for p in unused] == ["mask7.png"]
    written = write(scaffold(tmp_path / "photos", tmp_path / "m.yaml", tmp_path / "masks"),
                    tmp_path / "m.yaml")
    assert {(j.job.image.name, j.job.mask.name) for j in written.jobs} == {
        ("watermarked1.jpg", "mask1.png"), ("watermarked2.jpg", "mask2.png"),
        ("watermarked3.jpg", "mask3.png")}


def test_masks_beside_their_photos(tmp_path: Path) -> None:
    photo(tmp_path / "shots/a.png")
    mask(tmp_path / "shots/a_mask.png")
    photo(tmp_path / "shots/b.png")
    mask(tmp_path / "shots/b.mask.png")
    pairs, unpaired, _ = pair(tmp_path / "shots", tmp_path / "shots")
    assert {i.name: m.name for i, m in pairs.items()} == {"a.png": "a_mask.png",
                                                          "b.png": "b.mask.png"}
    assert unpaired == []


def test_one_pattern_makes_one_glob_entry_that_loads_to_the_same_pairs(tmp_path: Path) -> None:
    for stem in ("a", "b", "c"):
        photo(tmp_path / f"photos/{stem}.jpg")
        mask(tmp_path / f"masks/{stem}.png")
    target = tmp_path / "manifests/batch.yaml"
    result = scaffold(tmp_path / "photos", target, masks_dir=tmp_path / "masks", preset="fast")
    body = yaml.safe_load(result.text)
    assert body["jobs"] == [{"images": "../photos/*.jpg", "mask": "../masks/{stem}.png"}]
    assert body["settings"] == {"preset": "fast"} and body["output"] == "out/photos"
    batch = write(result, target)
    assert [(item.job.image.name, item.job.mask.name) for item in batch.jobs] == [
        ("a.jpg", "a.png"), ("b.jpg", "b.png"), ("c.jpg", "c.png")]
    assert batch.output == tmp_path / "manifests/out/photos"
    with pytest.raises(InputError, match="already exists"):
        write(result, target)
    write(result, target, force=True)


def test_mixed_patterns_list_each_pair_and_note_the_rest(tmp_path: Path) -> None:
    photo(tmp_path / "photos/a.jpg")
    photo(tmp_path / "photos/b.jpg")
    photo(tmp_path / "photos/lonely.jpg")
    mask(tmp_path / "masks/a.png")
    mask(tmp_path / "masks/b_mask.png")
    result = scaffold(tmp_path / "photos", tmp_path / "m.yaml", masks_dir=tmp_path / "masks")
    assert yaml.safe_load(result.text)["jobs"] == [
        {"image": "photos/a.jpg", "mask": "masks/a.png"},
        {"image": "photos/b.jpg", "mask": "masks/b_mask.png"},
    ]
    assert "#   photos/lonely.jpg" in result.text
    assert [item.key for item in write(result, tmp_path / "m.yaml").jobs] == ["a.jpg", "b.jpg"]


def test_shared_mask_template_and_auto(tmp_path: Path) -> None:
    photo(tmp_path / "frames/f1.png")
    photo(tmp_path / "frames/f2.png")
    shared = mask(tmp_path / "frames/logo.png")  # in the same folder: not a job
    result = scaffold(tmp_path / "frames", tmp_path / "m.yaml", mask=shared)
    assert yaml.safe_load(result.text)["jobs"] == [
        {"images": "frames/*.png", "mask": "frames/logo.png"}]
    assert [item.key for item in write(result, tmp_path / "m.yaml").jobs] == ["f1.png", "f2.png"]

    auto = scaffold(tmp_path / "frames", tmp_path / "a.yaml", template="auto")
    batch = write(auto, tmp_path / "a.yaml")
    assert {item.job.template for item in batch.jobs} == {AUTO_TEMPLATE}


def test_nothing_to_pair_is_an_error(tmp_path: Path) -> None:
    photo(tmp_path / "photos/a.jpg")
    mask(tmp_path / "masks/other.png")
    with pytest.raises(InputError, match="no picture has a mask"):
        scaffold(tmp_path / "photos", tmp_path / "m.yaml", masks_dir=tmp_path / "masks")
    with pytest.raises(InputError, match="exactly one"):
        scaffold(tmp_path / "photos", tmp_path / "m.yaml")
    with pytest.raises(InputError, match="no such folder"):
        scaffold(tmp_path / "nope", tmp_path / "m.yaml", masks_dir=tmp_path / "masks")
