"""The HTML report: a whole batch at a glance, doubtful jobs first. One static page, no network
(inline CSS, no script); thumbnails are files in the state folder's thumbs/, beside it."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from urllib.parse import quote

from pipeline.batch.facts import JobFacts
from pipeline.batch.locks import check_state_dir
from pipeline.batch.look import Look, look_at, stamp
from pipeline.batch.manifest import Manifest
from pipeline.batch.report import JobStatus, doubts_of
from pipeline.batch.states import JobState
from pipeline.batch.status import batch_status
from pipeline.errors import InputError
from pipeline.io.paths import check_not_an_input, storage_error

REPORT_NAME = "report.html"
THUMBS = "thumbs"
STATES = (JobState.DONE, JobState.FAILED, JobState.PENDING, JobState.RUNNING)

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 8px}
.summary{margin:0 0 16px;padding:8px 12px;background:#fff;border:1px solid #ddd}
.job{display:grid;grid-template-columns:300px repeat(2,184px) repeat(2,max-content);gap:8px;
align-items:start;
background:#fff;border:1px solid #ddd;border-left:6px solid #4a4;margin:0 0 8px;padding:8px}
.job.doubt{border-left-color:#d80}.job.failed{border-left-color:#c22}
.job.pending,.job.running{border-left-color:#aaa}
.facts h2{font-size:14px;margin:0 0 4px;word-break:break-all}
.facts p{margin:2px 0}.doubts{color:#a40;font-weight:600}.failed .doubts{color:#c22}
figure{margin:0}figure img{width:180px;height:auto;background:#eee;image-rendering:pixelated}
figure img.crop{width:auto;max-width:none}
figcaption{font-size:12px;color:#666}.warn{color:#865}
"""


@dataclass(frozen=True)
class Entry:
    """One job as the page shows it."""

    status: JobStatus
    look: Look | None
    doubts: tuple[str, ...]

    @property
    def rank(self) -> int:
        """Doubtful outputs first, then failures, then the rest (manifest order within)."""
        if self.doubts and self.status.state == JobState.DONE:
            return 0
        if self.status.state == JobState.FAILED:
            return 1
        return 2 if self.status.state == JobState.DONE else 3


def _current_look(status: JobStatus, thumbs: Path) -> tuple[Look | None, tuple[str, ...]]:
    """The job's look, taken again (and cached) if the ledger has none for its files as they are
    now: an older ledger, an output replaced since the run."""
    job, state, facts = status.item.job, status.state, status.facts
    try:
        if state == JobState.DONE:
            look = facts.look if facts else None
            if look is None or look.stamp != stamp(job.image, job.output):
                look = look_at(job, facts.placement if facts else None, thumbs)
                facts = (facts or JobFacts(str(job.route))).with_look(look)
                return look, doubts_of(None, facts)
            return look, status.doubts
        if state == JobState.FAILED and Path(job.image).is_file():
            return look_at(job, None, thumbs, done=False), status.doubts
    except (OSError, ValueError) as problem:  # an unreadable file: the page says so
        return None, (*status.doubts, f"no thumbnail ({problem})")
    except Exception as problem:  # noqa: BLE001 - a damaged image must not stop the page
        return None, (*status.doubts, f"no thumbnail ({type(problem).__name__}: {problem})")
    return None, status.doubts


def entries(manifest: Manifest, statuses: list[JobStatus], thumbs: Path) -> list[Entry]:
    found = []
    for status in statuses:
        look, doubts = _current_look(status, thumbs)
        found.append(Entry(replace(status, doubts=doubts), look, doubts))
    order = sorted(range(len(found)), key=lambda index: (found[index].rank, index))
    return [found[index] for index in order]


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{value:.1f}s"


def doubtful(rows: list[Entry]) -> int:
    """Outputs to look at first; failures are counted apart."""
    return sum(bool(e.doubts) and e.status.state == JobState.DONE for e in rows)


def summary_line(rows: list[Entry]) -> str:
    counts = {state: sum(e.status.state == state for e in rows) for state in STATES}
    parts = [f"{len(rows)} jobs"] + [f"{n} {state}" for state, n in counts.items() if n]
    parts.append(f"{doubtful(rows)} doubtful")
    done = [e.status.facts for e in rows if e.status.state == JobState.DONE and e.status.facts]
    busy = sum(facts.seconds for facts in done)
    starts = [facts.started for facts in done if facts.started]
    ends = [facts.finished for facts in done if facts.finished]
    if busy:
        parts.append(f"{_seconds(busy)} of fitting")
    if starts and ends and max(ends) > min(starts):
        span = max(ends) - min(starts)
        parts.append(f"{counts[JobState.DONE] * 60 / span:.1f} images per minute "
                     f"({_seconds(span)} from first start to last finish)")
    return ", ".join(parts)


def _link(target: Path, base: Path) -> str:
    return quote(Path(os.path.relpath(Path(target).resolve(), base)).as_posix())


def _figure(name: str, caption: str, base: Path, folder: Path, crop: bool = False) -> str:
    if not name:
        return "<figure></figure>"
    kind = ' class="crop"' if crop else ""
    return (f'<figure><img src="{_link(folder / name, base)}"{kind} alt="{escape(caption)}" '
            f'loading="lazy"><figcaption>{escape(caption)}</figcaption></figure>')


def _facts(entry: Entry) -> list[str]:
    status, facts = entry.status, entry.status.facts
    lines = [f"{status.state}" + (f" after {status.attempts} attempts"
                                  if status.attempts > 1 else "")]
    if facts is None:
        return lines
    lines.append(f"route: {facts.route}")
    if facts.placement is not None:
        lines.append(facts.placement.describe())
    if facts.opacity is not None:
        lines.append(f"opacity about {facts.opacity:.2f}")
    steps = f"{facts.steps} fitted steps"
    if facts.resumed_from:
        steps += f" ({facts.resumed_from} resumed from checkpoints)"
    lines.append(", ".join(filter(None, [steps, _seconds(facts.seconds), facts.device])))
    check = entry.look.residual if entry.look else None
    if check is not None:
        lines.append(f"mark edges left {check.ghost:.2f} (before {check.ghost_before:.2f}); "
                     f"changed far from it {check.changed_outside:.2%}")
    return lines


def _card(entry: Entry, base: Path, folder: Path) -> str:
    status = entry.status
    kind = status.state if status.state != JobState.DONE else ("doubt" if entry.doubts else "ok")
    lines = [f"<h2>{escape(status.item.key)}</h2>"]
    lines += [f'<p class="doubts">{escape(doubt)}</p>' for doubt in entry.doubts]
    if status.reason and status.state != JobState.FAILED:
        lines.append(f"<p>{escape(status.reason)}</p>")
    lines += [f"<p>{escape(fact)}</p>" for fact in _facts(entry)]
    lines += [f'<p class="warn">{escape(note)}</p>' for note in status.warnings]
    output = Path(status.item.job.output)
    if status.state == JobState.DONE and output.is_file():
        lines.append(f'<p><a href="{_link(output, base)}">full-size output</a></p>')
    figures = ""
    if entry.look is not None:
        look = entry.look
        figures = _figure(look.before, "before", base, folder) + _figure(
            look.after, "after", base, folder) + "".join(
            _figure(name, caption, base, folder, crop=True) for name, caption in (
                (look.crop_before, "mark area, before (1:1 or larger)"),
                (look.crop_after, "mark area, after (1:1 or larger)")))
    return (f'<section class="job {kind}"><div class="facts">{"".join(lines)}</div>'
            f"{figures}</section>")


def render(manifest: Manifest, rows: list[Entry], base: Path, folder: Path) -> str:
    title = f"unmark report: {manifest.path.name}"
    cards = "\n".join(_card(entry, base, folder) for entry in rows)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f'<p class="summary">{escape(summary_line(rows))}<br>outputs in '
        f"{escape(str(manifest.output))}</p>\n{cards}\n</body></html>\n"
    )


@dataclass(frozen=True)
class Written:
    path: Path
    jobs: int
    doubtful: int


def check_report_path(manifest: Manifest, path: Path) -> None:
    """An HTML file's name, never the manifest, an input or an output of its jobs."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the report a file name (.html)")
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{path}: the report is an HTML page; give it a name ending in .html")
    files = [("manifest", manifest.path)]
    for item in manifest.jobs:
        job = item.job
        template = job.template if isinstance(job.template, Path) else None
        files += [("image", job.image), ("mask", job.mask), ("template", template),
                  ("output", job.output)]
    check_not_an_input(path, files)


def write_report(manifest: Manifest, path: Path | None = None) -> Written:
    """Write the batch's HTML report (default OUTPUT/.unmark/report.html), atomically."""
    state = check_state_dir(manifest.output)
    if path is not None:
        check_report_path(manifest, path)
    path = path or state / REPORT_NAME
    rows = entries(manifest, batch_status(manifest), state / THUMBS)
    page = render(manifest, rows, path.resolve().parent, (state / THUMBS).resolve())
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(page, encoding="utf-8")
        os.replace(temp, path)
    except OSError as problem:
        raise storage_error(path, problem) from None
    finally:
        temp.unlink(missing_ok=True)
    return Written(path, len(rows), doubtful(rows))
