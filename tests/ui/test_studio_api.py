"""The studio's routes through Starlette's test client: only the folder's files are served,
state changes need the session token, a foreign Host is refused, and what it saves is a mask
and a manifest `unmark run` reads unchanged."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image
from studiokit import HOSTILE_NAME, SAMPLES, grey, sample_folder

from pipeline.batch.manifest import load_manifest
from pipeline.ui.studio.app import Studio, create_app
from pipeline.ui.studio.files import open_workspace
from pipeline.ui.studio.masks import BatchSettings
from pipeline.ui.studio.security import TOKEN_HEADER, new_guard

with warnings.catch_warnings():  # newer Starlette would rather have httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def folder(tmp_path):
    return sample_folder(tmp_path / "photos")


@pytest.fixture
def studio(folder, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Studio(open_workspace(folder), new_guard("127.0.0.1", 8765), scratch,
                  BatchSettings(steps=0), "cpu")


@pytest.fixture
def client(studio):
    with TestClient(create_app(studio), base_url=BASE) as client:
        yield client


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def stroke_mask(width: int, height: int) -> np.ndarray:
    """White with a black band: (H, W) uint8 as the page posts it."""
    pixels = np.full((height, width), 255, np.uint8)
    pixels[150:190, 80:240] = 0
    return pixels


def test_lists_the_photos_names_as_plain_json_strings(client):
    listed = client.get("/api/images").json()["images"]
    assert [image["name"] for image in listed] == [HOSTILE_NAME, "coffee.jpg", "rocket.jpg"]
    assert listed[1]["width"] == 320 and listed[1]["height"] == 213
    page = client.get("/")
    assert page.status_code == 200 and "onerror" not in page.text  # the page holds no names
    assert "default-src 'self'" in page.headers["content-security-policy"]
    photo = client.get(listed[0]["url"])  # the hostile name itself is served as a file
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"


@pytest.mark.parametrize("path, status", [
    ("..%2F..%2F..%2Fetc%2Fpasswd", 403),
    ("%2Fetc%2Fpasswd", 403),
    ("sub%2F..%2F..%2Fsecret.png", 403),
    (".hidden.png", 403),
    ("a%5C..%5Csecret.png", 400),
    ("missing.png", 404),
    ("outside.png", 403),  # a symlink to a file outside the folder
    ("outward%2Fsecret.png", 403),  # a symlinked folder leading out
    ("page.html", 404),  # only images are served
])
def test_refuses_paths_outside_the_folder(client, folder, path, status):
    secret = folder.parent / "secret.png"
    secret.write_bytes(b"not for the page")
    (folder / "outside.png").symlink_to(secret)
    (folder / "outward").symlink_to(folder.parent, target_is_directory=True)
    (folder / ".hidden.png").write_bytes(b"hidden")
    (folder / "page.html").write_text("<script>not for the page</script>")
    (folder / "sub").mkdir()
    answer = client.get(f"/files/input/{path}")
    assert answer.status_code == status
    assert b"not for the page" not in answer.content
    names = [image["name"] for image in client.get("/api/images").json()["images"]]
    assert "outside.png" not in names and ".hidden.png" not in names


def test_refuses_the_ledger_and_unknown_areas(client, folder):
    state = folder / "cleaned" / ".unmark"
    state.mkdir(parents=True)
    (state / "ledger.sqlite").write_bytes(b"ledger")
    assert client.get("/files/output/.unmark/ledger.sqlite").status_code == 403
    assert client.get("/files/elsewhere/coffee.jpg").status_code == 404
    assert client.get("/api/mask/7").status_code == 404


def test_masks_never_leave_the_folder(client, studio, folder, tmp_path):
    token = {TOKEN_HEADER: studio.guard.token}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "coffee.png").write_bytes(b"not for the page")
    (folder / "studio-masks").symlink_to(elsewhere, target_is_directory=True)
    answer = client.post("/api/mask/1", content=png(stroke_mask(320, 213)), headers=token)
    assert answer.status_code == 403
    assert client.get("/api/mask/1").status_code == 403
    assert (elsewhere / "coffee.png").read_bytes() == b"not for the page"


def test_state_changes_need_the_session_token(client, studio):
    body = png(stroke_mask(320, 213))
    for headers in ({}, {TOKEN_HEADER: "guess"}, {TOKEN_HEADER: studio.guard.token[:-1]}):
        assert client.post("/api/mask/1", content=body, headers=headers).status_code == 403
        assert client.post("/api/batch", headers=headers).status_code == 403
        assert client.post("/api/preview/1", content=body, headers=headers).status_code == 403
    assert not studio.workspace.masks.exists()
    answer = client.post("/api/mask/1", content=body, headers={TOKEN_HEADER: studio.guard.token})
    assert answer.status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "127.0.0.1", ""])
def test_refuses_a_foreign_host(client, studio, host):
    token = {TOKEN_HEADER: studio.guard.token}
    assert client.get("/api/images", headers={"host": host}).status_code == 400
    assert client.post("/api/batch", headers={"host": host, **token}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200


def test_saved_mask_and_manifest_are_what_unmark_run_reads(client, studio, folder):
    token = {TOKEN_HEADER: studio.guard.token}
    braces = folder / "a{stem}.png"  # a name the manifest's mask pattern must take literally
    Image.new("RGB", (320, 213), (10, 20, 30)).save(braces)
    posted = stroke_mask(320, 213)
    answer = client.post("/api/mask/1?everywhere=1", content=png(posted), headers=token)
    assert answer.status_code == 200
    assert answer.json()["saved"] == ["studio-masks/a{stem}.png", "studio-masks/coffee.png"]
    manifest = load_manifest(folder / "studio.yaml")
    assert [os.path.basename(item.job.image) for item in manifest.jobs] == [
        "a{stem}.png", "coffee.jpg"]  # rocket (320x214) is another size
    assert manifest.output == folder / "cleaned"
    assert all(item.settings.steps == 0 for item in manifest.jobs)
    for item in manifest.jobs:
        assert np.array_equal(grey(item.job.mask) < 128, posted == 0)
    assert client.get("/api/mask/2").content == (folder / "studio-masks/coffee.png").read_bytes()


def test_photos_sharing_a_stem_get_masks_of_their_own(client, studio, folder):
    Image.new("RGB", (320, 213), (10, 20, 30)).save(folder / "coffee.png")
    masks = {image.name: image.mask.name for image in studio.workspace.images()}
    assert masks["coffee.jpg"] == "coffee.jpg.png" and masks["coffee.png"] == "coffee.png.png"
    assert masks["rocket.jpg"] == "rocket.png"
    answer = client.post("/api/mask/1?everywhere=1", content=png(stroke_mask(320, 213)),
                         headers={TOKEN_HEADER: studio.guard.token})
    assert answer.json()["images"] == [1, 2]
    assert len(load_manifest(folder / "studio.yaml").jobs) == 2


def test_refuses_masks_it_cannot_use(client, studio):
    token = {TOKEN_HEADER: studio.guard.token}
    wrong_size = client.post("/api/mask/1", content=png(stroke_mask(100, 80)), headers=token)
    assert wrong_size.status_code == 400 and "320x213" in wrong_size.text
    not_png = client.post("/api/mask/1", content=b"GIF89a....", headers=token)
    assert not_png.status_code == 400
    empty = np.full((213, 320), 255, np.uint8)
    assert client.post("/api/preview/1", content=png(empty), headers=token).status_code == 400
    assert client.post("/api/batch", headers=token).status_code == 400  # nothing masked yet
    assert not studio.workspace.manifest.exists()


def test_a_preview_runs_in_the_background_and_fills_the_mask(client, studio, folder):
    token = {TOKEN_HEADER: studio.guard.token}
    posted = stroke_mask(320, 213)
    started = client.post("/api/preview/1", content=png(posted), headers=token)
    assert started.status_code == 202
    state_url = started.json()["state_url"]
    assert client.get(state_url).json()["state"] == "running"  # answered before the fill ended
    assert client.get("/api/images").status_code == 200  # and the server goes on answering
    studio.tasks.wait(started.json()["id"], 120)
    done = client.get(state_url).json()
    assert done["state"] == "done", done
    result = np.asarray(Image.open(io.BytesIO(client.get(done["url"]).content)).convert("RGB"))
    before = np.asarray(Image.open(folder / "coffee.jpg").convert("RGB"))
    hole = posted == 0
    assert np.array_equal(result[~hole], before[~hole])  # only the painted pixels change
    assert np.abs(result.astype(int) - before)[hole].mean() > 10


def test_suggests_the_footprint_of_the_given_template(tmp_path):
    import shutil

    folder = tmp_path / "stock"
    folder.mkdir()
    for name in ("coffee", "rocket"):
        shutil.copy(SAMPLES / "stock" / f"{name}.png", folder)
    template = SAMPLES / "marks" / "logo.png"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    studio = Studio(open_workspace(folder), new_guard("127.0.0.1", 8765), scratch,
                    BatchSettings(), "cpu", template)
    footprint = np.asarray(Image.open(template).convert("RGBA"))[..., 3] > 5
    with TestClient(create_app(studio), base_url=BASE) as client:
        started = client.post("/api/suggest/0", headers={TOKEN_HEADER: studio.guard.token})
        assert started.status_code == 202
        studio.tasks.wait(started.json()["id"], 60)
        done = client.get(started.json()["state_url"]).json()
        assert done["state"] == "done", done
        assert "logo.png" in done["source"]
        suggested = np.asarray(Image.open(io.BytesIO(client.get(done["url"]).content))) < 128
    assert suggested[footprint].all()  # the whole mark, and a thin rim around it
    assert suggested.sum() < 3 * footprint.sum()
