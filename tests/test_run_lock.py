"""One writer per run folder: a second run or bench on it refuses at once, naming the holder; a
lock left by a killed process is free."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from slimkit.run_lock import LOCK, FolderBusyError, run_lock

from .conftest import REPO, tiny_recipe

HOLD = """
import sys, time
from pathlib import Path
from slimkit.run_lock import run_lock
with run_lock(Path(sys.argv[1]), "slimkit run holder.yaml"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with run_lock(tmp_path, "slimkit run first.yaml"):
        with pytest.raises(FolderBusyError) as caught, run_lock(tmp_path):
            pass
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message and "`slimkit run first.yaml`" in message
    with run_lock(tmp_path):  # released at the end of the block
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, sentiment_files):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "runs" / "tiny")],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        recipe = tiny_recipe(tmp_path, *sentiment_files)
        for command in (["run", str(recipe)], ["bench", str(tmp_path / "runs" / "tiny")]):
            out = subprocess.run([sys.executable, "-m", "slimkit", *command], capture_output=True,
                                 text=True, cwd=REPO, timeout=120)
            assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
            assert f"is being written by pid {holder.pid} on " in out.stderr
            assert "`slimkit run holder.yaml`" in out.stderr
        assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [LOCK]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path / "runs" / "tiny", "after the kill"):  # non-blocking: taken or raises
        assert "after the kill" in (tmp_path / "runs" / "tiny" / LOCK).read_text()
