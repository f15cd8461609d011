"""A real ``slimkit serve`` in a subprocess on a free loopback port, ready when its /health says
so: what the serving study and the tests measure and test."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from slimkit.errors import SlimkitError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path, flags: list[str], timeout: float = 120,
                 **popen: object) -> tuple[subprocess.Popen, str]:
    """``slimkit serve FOLDER FLAGS`` on 127.0.0.1 and its URL, once ready. A server that exits
    or is not ready within ``timeout`` seconds is an error, not something to measure."""
    url = f"http://127.0.0.1:{(port := free_port())}"
    process = subprocess.Popen([sys.executable, "-m", "slimkit", "serve", str(folder), "--port",
                                str(port), *flags], **popen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SlimkitError(f"slimkit serve {folder} exited with status {process.returncode}")
        if _ready(url):
            return process, url
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise SlimkitError(f"slimkit serve {folder} was not ready in {timeout:g} s")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):  # refused while starting, 503 while warming up
        return False
