"""One writer per run folder: ``slimkit run`` and ``slimkit bench`` hold an exclusive lock on
``<folder>/.slimkit.lock`` while they write there. A second command on the same folder refuses at
once, naming the holder. The lock is the kernel's (``flock``): it dies with its process, so a lock
left by a killed run is simply free, and the file's stale holder line is overwritten."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from slimkit.errors import SlimkitError

LOCK = ".slimkit.lock"


class FolderBusyError(SlimkitError):
    """Another slimkit process is writing this folder."""


@contextmanager
def run_lock(folder: Path, command: str | None = None) -> Iterator[None]:
    """Hold the folder's lock for the duration of the block."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 (held past this line)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{folder} is being written by {_holder(handle)}; wait for it to "
                                  f"finish, or give this run another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "command": command or " ".join(["slimkit", *sys.argv[1:]]),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


def _holder(handle) -> str:
    handle.seek(0)
    try:
        who = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        who = {}
    if not who:
        return "another process"
    return f"pid {who.get('pid')} on {who.get('host')} (`{who.get('command')}`, since {who.get('since')})"
