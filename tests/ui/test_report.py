"""The HTML report: doubtful jobs first with their reasons, a static page with no external URL,
the flag in run, status and --json, and fast on a large batch."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from reportkit import batch
from typer.testing import CliRunner

import cli
from pipeline.batch.ledger import state_dir
from pipeline.batch.manifest import load_manifest
from pipeline.ui.report import write_report


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, object]:
    """The three-job batch, run once through the CLI (which writes the report)."""
    root = tmp_path_factory.mktemp("report")
    path = batch(root)
    result = unmark("run", path, "--devices", "cpu", "--threads", "1")
    return path, result


class Page(HTMLParser):
    """Collects every URL and the text of each job's card, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.cards: list[str] = []
        self.images: list[dict] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        self.urls += [values[k] for k in ("src", "href") if values.get(k) is not None]
        if tag == "img":
            self.images.append(values)
        if tag == "section":
            self.cards.append("")
        if tag not in ("meta", "img", "br"):
            self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open_tags and self.open_tags.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        if self.cards:
            self.cards[-1] += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.open_tags == []
    return page


def test_run_writes_the_report_and_counts_the_doubtful(ran):
    path, result = ran
    assert result.exit_code == 1  # one job failed
    report = state_dir(path.parent / "out") / "report.html"
    assert f"report: {report}" in result.output.replace("\n", "")
    assert "(3 jobs, 1 doubtful)" in result.output.replace("\n", " ")  # failures apart
    assert "ghost.png: doubtful: the mark still shows" in result.output.replace("\n", " ")


def test_the_ghost_and_the_failed_job_come_first_with_their_reasons(ran):
    path, _ = ran
    page = parse(write_report(load_manifest(path)).path)
    ghost, failed, good = page.cards
    assert ghost.startswith("ghost.png") and "the mark still shows" in ghost
    assert failed.startswith("failed.png") and "watermark logo.png not found" in failed
    assert good.startswith("good.png") and "still shows" not in good
    assert "route: mask" in good and "2 fitted steps" in good and "cpu" in good
    summary = path.parent / "out" / ".unmark" / "report.html"
    text = summary.read_text()
    assert "3 jobs, 2 done, 1 failed, 1 doubtful" in text and "images per minute" in text


def test_the_page_is_static_with_no_external_url(ran):
    path, _ = ran
    report = write_report(load_manifest(path)).path
    page = parse(report)
    assert page.images and all(image.get("loading") == "lazy" for image in page.images)
    for url in page.urls:
        assert not re.match(r"^([a-z]+:|//)", url), url
        assert (report.parent / url).is_file(), url
    text = report.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert len(page.images) == 4 + 4 + 1  # ghost and good: 4 each; failed: its input


def test_status_and_json_carry_the_flag(ran):
    path, _ = ran
    plain = unmark("status", path)
    assert "doubtful: the mark still shows" in plain.output.replace("\n", " ")
    assert "3 jobs: 2 done, 1 failed, 1 doubtful" in plain.output
    data = json.loads(unmark("status", path, "--json").output)
    flags = {job["key"]: job["doubtful"] for job in data["jobs"]}
    assert flags == {"good.png": False, "ghost.png": True, "failed.png": False}
    assert data["doubtful"] == 1
    ghost = next(job for job in data["jobs"] if job["key"] == "ghost.png")
    assert ghost["doubts"][0].startswith("the mark still shows")


def test_report_option_writes_elsewhere_with_working_links(ran, tmp_path):
    path, _ = ran
    target = tmp_path / "elsewhere" / "batch.html"
    result = unmark("report", path, "-o", target)
    assert result.exit_code == 0 and "3 jobs, 1 doubtful" in result.output
    page = parse(target)
    assert all((target.parent / url).is_file() for url in page.urls)


def test_each_done_job_links_its_full_output_and_shows_its_mark_area_enlarged(ran):
    path, _ = ran
    report = write_report(load_manifest(path)).path
    page = parse(report)
    outputs = {(report.parent / url).resolve() for url in page.urls if "thumbs" not in url}
    out = path.parent / "out"
    assert {(out / "good.png").resolve(), (out / "ghost.png").resolve()} <= outputs, page.urls
    crops = [image for image in page.images if image.get("class") == "crop"]
    assert len(crops) == 4  # before and after, for the two done jobs
    for crop in crops:
        with Image.open(report.parent / crop["src"]) as shown:
            width, height = shown.size
        assert width >= 2 * 36 and height >= 2 * 24  # the mark's 36x24 box, enlarged
