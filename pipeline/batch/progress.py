"""Progress from the workers' fits to the coordinator's display: small UDP datagrams to a local
port, fire and forget, so a slow or vanished coordinator never blocks a fit."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from pipeline.batch.report import Display

REPORT_INTERVAL = 0.2  # seconds between progress datagrams from one worker


class ProgressInbox:
    """Receives workers' progress datagrams on a local port and hands them to the display."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="progress", daemon=True)

    def __enter__(self) -> ProgressInbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.socket.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                message = json.loads(self.socket.recv(65536))
                kind, worker, key, *values = message
                if kind == "start":
                    self.display.started(int(worker), str(key), str(values[0]))
                elif kind == "step":
                    step, total, loss = values
                    self.display.step(int(worker), str(key), int(step), int(total), float(loss))
            except TimeoutError:
                continue
            except (ValueError, TypeError, IndexError):
                continue  # not one of ours


class Reporter:
    """Progress from inside the fit to the coordinator's display, at most every 0.2 s."""

    def __init__(self, key: str, port: int | None, device: str) -> None:
        self.key, self.port = key, port
        self.first_step: int | None = None
        self.last_sent = 0.0
        self.socket = None
        if port is not None:
            self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.send("start", device)

    def send(self, kind: str, *values: object) -> None:
        if self.socket is None:
            return
        message = json.dumps([kind, os.getpid(), self.key, *values]).encode()
        try:
            self.socket.sendto(message, ("127.0.0.1", self.port))
        except OSError:
            pass  # progress is a courtesy; the result travels another way

    def progress(self, step: int, total: int, loss: float) -> None:
        if self.first_step is None:
            self.first_step = step
        now = time.monotonic()
        if now - self.last_sent >= REPORT_INTERVAL or step == total:
            self.last_sent = now
            self.send("step", step, total, loss)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
