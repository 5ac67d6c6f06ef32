"""`unmark studio`: what stops it before it serves is one line and exit 2; once started it
prints its address (the browser test drives the page)."""

from __future__ import annotations

import socket
import urllib.request

from studiokit import Started
from typer.testing import CliRunner

import cli


def unmark(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def test_refuses_a_missing_folder_a_busy_port_and_a_missing_template(tmp_path):
    missing = unmark("studio", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "not a folder of photos" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = unmark("studio", tmp_path, "--port", port)
    assert busy.exit_code == 2 and f"port {port}" in busy.stderr and "--port" in busy.stderr
    bad_preset = unmark("studio", tmp_path, "--preset", "fastest")
    assert bad_preset.exit_code == 2 and "unknown preset 'fastest'" in bad_preset.stderr
    no_template = unmark("studio", tmp_path, "--template", tmp_path / "logo.png")
    assert no_template.exit_code == 2 and "no such template" in no_template.stderr


def test_prints_its_address_and_serves_the_page(tmp_path):
    studio = Started(tmp_path)
    try:
        assert studio.address.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(studio.address, timeout=10) as page:
            assert b'data-testid="mask-canvas"' in page.read()
    finally:
        studio.stop()
    assert studio.process.returncode == 0  # Ctrl-C or SIGTERM: a clean stop
