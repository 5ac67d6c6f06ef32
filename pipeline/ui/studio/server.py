"""Bind the studio to a local port and serve it until Ctrl-C."""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError
from pipeline.ui.studio.app import Studio, create_app
from pipeline.ui.studio.files import open_workspace
from pipeline.ui.studio.masks import BatchSettings
from pipeline.ui.studio.security import new_guard

HOST = "127.0.0.1"


@dataclass(frozen=True)
class StudioOptions:
    folder: Path
    port: int = 8765
    settings: BatchSettings = BatchSettings()
    devices: str = "auto"
    template: Path | None = None  # the mark to suggest masks from (else the folder's own)


@dataclass
class Bound:
    """A studio with its listening socket, ready to serve."""

    studio: Studio
    sock: socket.socket
    scratch: Path

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.sock.getsockname()[1]}/"


def bind(options: StudioOptions) -> Bound:
    """Check the folder and take the port (0: any free one) before anything is printed."""
    from pipeline.settings import preset

    workspace = open_workspace(options.folder)
    preset(options.settings.preset)  # an unknown name stops here, not in the first preview
    if options.template is not None and not options.template.is_file():
        raise InputError(f"{options.template}: no such template")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, options.port))
    except OSError as problem:
        sock.close()
        raise InputError(f"port {options.port}: cannot listen there ({problem.strerror}); "
                         "choose another with --port") from None
    sock.listen(128)  # connections made before uvicorn is up wait in the queue
    port = sock.getsockname()[1]
    scratch = Path(tempfile.mkdtemp(prefix="unmark-studio-"))
    studio = Studio(workspace, new_guard(HOST, port), scratch, options.settings, options.devices,
                    options.template)
    return Bound(studio, sock, scratch)


def serve(bound: Bound) -> None:
    """Serve until interrupted; the previews' scratch folder goes with the server."""
    import uvicorn

    if threading.current_thread() is threading.main_thread():
        # uvicorn hands SIGTERM back once it has stopped; exiting then still runs `finally`.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = uvicorn.Config(create_app(bound.studio), log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[bound.sock])
    finally:
        bound.studio.tasks.close()
        bound.sock.close()
        shutil.rmtree(bound.scratch, ignore_errors=True)
