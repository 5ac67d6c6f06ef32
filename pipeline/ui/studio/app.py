"""The studio's routes: the page, its static files, the photos and outputs (through the path
check in files.py), masks, previews, the batch and its review. Every answer is JSON or a file;
names travel as JSON strings and the page sets them as text, never as markup."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.errors import InputError
from pipeline.io.imaging import IMAGE_SUFFIXES
from pipeline.ui.studio.files import (
    Refused,
    Workspace,
    inside,
    shown_image,
    write_atomically,
)
from pipeline.ui.studio.jobs import DONE, BatchRunner, Busy, Tasks, fill_preview
from pipeline.ui.studio.masks import (
    MAX_MASK_BYTES,
    BadMask,
    BatchSettings,
    decode_mask,
    encode_mask,
    save_mask,
)
from pipeline.ui.studio.security import Guard, GuardMiddleware
from pipeline.ui.studio.suggest import Suggested, Suggester

STATIC = Path(__file__).resolve().parent / "static"
BROWSER_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}  # shown as they are
TOKEN_SLOT = "__STUDIO_TOKEN__"


def file_url(area: str, relative: Path) -> str:
    return f"/files/{area}/" + quote(relative.as_posix())


def serve_file(path: Path) -> Response:
    """An image file (nothing else is served): as it is where a browser shows that format."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES | BROWSER_SUFFIXES:
        raise Refused(404, "not an image")
    if suffix in BROWSER_SUFFIXES:
        return FileResponse(path)
    buffer = io.BytesIO()
    try:
        shown_image(path).save(buffer, "PNG")  # TIFF and the like: the browser cannot show them
    except (OSError, ValueError) as problem:
        raise Refused(400, f"cannot decode {path.name} ({problem})") from None
    return Response(buffer.getvalue(), media_type="image/png")


async def posted_png(request: Request) -> bytes:
    """The request's body, refused once it outgrows any mask."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MASK_BYTES:
            raise BadMask("the mask is too large")
        chunks.append(chunk)
    return b"".join(chunks)


class Studio:
    """The app's state (folder, token, background tasks, batch) and its endpoints."""

    def __init__(self, workspace: Workspace, guard: Guard, scratch: Path,
                 settings: BatchSettings, devices: str, template: Path | None = None) -> None:
        self.workspace = workspace
        self.guard = guard
        self.scratch = scratch
        self.settings = settings
        self.device = "cpu" if devices == "cpu" else "auto"  # a preview takes one device
        self.tasks = Tasks()
        self.runner = BatchRunner(workspace, devices)
        self.suggester = Suggester(workspace, template, scratch)

    def page(self, request: Request) -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html.replace(TOKEN_SLOT, self.guard.token))

    def images(self, request: Request) -> Response:
        listed = [{
            "index": image.index, "name": image.name, "width": image.width,
            "height": image.height, "has_mask": image.mask.is_file(),
            "url": file_url("input", Path(image.name)), "mask_url": f"/api/mask/{image.index}",
        } for image in self.workspace.images()]
        return JSONResponse({"folder": self.workspace.root.name, "images": listed})

    def files(self, request: Request) -> Response:
        base = self.workspace.area(request.path_params["area"])
        return serve_file(inside(base, request.path_params["path"]))

    def mask(self, request: Request) -> Response:
        image = self.workspace.image(request.path_params["index"])
        return FileResponse(self.workspace.saved_mask(image))

    async def save_mask(self, request: Request) -> Response:
        image = self.workspace.image(request.path_params["index"])
        hole = decode_mask(await posted_png(request), image)
        everywhere = request.query_params.get("everywhere") == "1"
        saved = save_mask(self.workspace, image, hole, everywhere, self.settings)
        return JSONResponse({
            "saved": [target.mask.relative_to(self.workspace.root).as_posix() for target in saved],
            "images": [target.index for target in saved],
            "manifest": self.workspace.manifest.name,
        })

    async def start_preview(self, request: Request) -> Response:
        image = self.workspace.image(request.path_params["index"])
        hole = decode_mask(await posted_png(request), image)
        if not hole.any():
            raise BadMask("the mask is empty: paint over the mark first")
        data = encode_mask(hole)

        def fill(name: str) -> Path:
            mask = write_atomically(self.scratch / f"{name}.mask.png", data)
            return fill_preview(image, mask, self.scratch / f"{name}.png", self.settings,
                                self.device)

        name = self.tasks.submit(fill)
        return JSONResponse({"id": name, "state_url": f"/api/preview/{name}"}, 202)

    def task_state(self, request: Request) -> Response:
        """A preview's or a suggestion's state, and where its result is once done."""
        name, kind = request.path_params["name"], request.url.path.split("/")[2]
        state = self.tasks.state(name)
        if state is None:
            raise Refused(404, f"no such {kind}")
        url = f"/api/{kind}/{name}/result" if state.state == DONE else None
        found = self.tasks.result(name)
        source = found.source if isinstance(found, Suggested) else None
        return JSONResponse({**dataclasses.asdict(state), "url": url, "source": source})

    def preview_image(self, request: Request) -> Response:
        found = self.tasks.result(request.path_params["name"])
        if not isinstance(found, Path):
            raise Refused(404, "no such preview (yet)")
        return FileResponse(found, media_type="image/png")

    def start_suggestion(self, request: Request) -> Response:
        image = self.workspace.image(request.path_params["index"])
        name = self.tasks.submit(lambda _: self.suggester.suggest(image))
        return JSONResponse({"id": name, "state_url": f"/api/suggest/{name}"}, 202)

    def suggested_mask(self, request: Request) -> Response:
        found = self.tasks.result(request.path_params["name"])
        if not isinstance(found, Suggested):
            raise Refused(404, "no such suggestion (yet)")
        return Response(encode_mask(found.hole), media_type="image/png")

    def start_batch(self, request: Request) -> Response:
        try:
            run = self.runner.start()
        except Busy as problem:
            return PlainTextResponse(str(problem), 409)
        return JSONResponse({"run": run}, 202)

    def batch(self, request: Request) -> Response:
        return JSONResponse(dataclasses.asdict(self.runner.progress()))

    def review(self, request: Request) -> Response:
        by_name = {image.name: image.index for image in self.workspace.images()}
        output = self.workspace.output.resolve()
        rows = []
        for row in self.runner.review():
            after = None
            if row.output is not None and row.output.resolve().is_relative_to(output):
                after = file_url("output", row.output.resolve().relative_to(output))
            rows.append({
                "name": row.name, "state": row.state, "reason": row.reason,
                "doubts": list(row.doubts), "index": by_name.get(row.name),
                "before": file_url("input", Path(row.name)) if row.name in by_name else None,
                "after": after,
            })
        return JSONResponse({"jobs": rows})


async def refused(request: Request, problem: Exception) -> Response:
    return PlainTextResponse(str(problem), getattr(problem, "status", 400))


async def bad_input(request: Request, problem: Exception) -> Response:
    return PlainTextResponse(str(problem).splitlines()[0], 400)


def create_app(studio: Studio) -> Starlette:
    routes = [
        Route("/", studio.page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/images", studio.images),
        Route("/files/{area}/{path:path}", studio.files),
        Route("/api/mask/{index:int}", studio.mask, methods=["GET"]),
        Route("/api/mask/{index:int}", studio.save_mask, methods=["POST"]),
        Route("/api/preview/{index:int}", studio.start_preview, methods=["POST"]),
        Route("/api/preview/{name}", studio.task_state),
        Route("/api/preview/{name}/result", studio.preview_image),
        Route("/api/suggest/{index:int}", studio.start_suggestion, methods=["POST"]),
        Route("/api/suggest/{name}", studio.task_state),
        Route("/api/suggest/{name}/result", studio.suggested_mask),
        Route("/api/batch", studio.batch, methods=["GET"]),
        Route("/api/batch", studio.start_batch, methods=["POST"]),
        Route("/api/review", studio.review),
    ]
    handlers = {Refused: refused, BadMask: bad_input, InputError: bad_input}
    return Starlette(routes=routes, exception_handlers=handlers,
                     middleware=[Middleware(GuardMiddleware, guard=studio.guard)])
