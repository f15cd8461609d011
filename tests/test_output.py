"""What a user's console and log get: progress bars only on a terminal, a line every few seconds
in a log, nothing under --quiet, and no third-party noise unless --debug."""

from __future__ import annotations

import logging
import subprocess
import sys

from slimkit.progress import LogProgress, progress

from .conftest import REPO, tiny_recipe


def test_progress_in_a_log_is_a_line_every_few_seconds_not_a_bar_per_step(caplog):
    caplog.set_level(logging.INFO, logger="slimkit")
    bar = progress(total=1000, desc="train", unit="step")  # stderr is not a terminal here
    assert isinstance(bar, LogProgress)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert caplog.records == []  # well under LOG_EVERY_S: nothing to say
    slow = LogProgress(range(3), total=3, desc="bench", unit="measurement", shown=True, every=0)
    slow.set_postfix(loss="0.41")
    assert list(slow) == [0, 1, 2]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["bench: 1/3 measurement (33 %), loss=0.41",
                     "bench: 2/3 measurement (67 %), loss=0.41",
                     "bench: 3/3 measurement (100 %), loss=0.41"]  # the end once, not twice


def test_quiet_means_no_progress_at_all(caplog):
    caplog.set_level(logging.WARNING, logger="slimkit")
    bar = LogProgress(None, total=2, desc="x", unit="it", shown=False, every=0)
    bar.update(2)
    bar.close()
    assert not progress(total=2, desc="x").shown and caplog.records == []


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slimkit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_a_run_logged_to_a_file_has_no_bars_or_library_noise(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages="""
  - kind: finetune
    name: teacher
    epochs: 1
  - kind: quantize
    name: teacher-int8
    mode: dynamic-int8
  - kind: onnx
    name: teacher-onnx
    parent: teacher
""")
    out = run_cli("run", str(recipe), cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "it/s" not in out.stderr
    for noise in ("pytree", "torch.compile", "Writing model shards", "torchao", "torchvision",
                  "UserWarning", "Warning:"):
        assert noise not in out.stderr, out.stderr
    assert "teacher-int8: eval accuracy" in out.stderr  # our own INFO lines stay
    # quiet: a training stage, whose progress would show, prints nothing at all
    teacher_only = tmp_path / "quiet.yaml"
    teacher_only.write_text(recipe.read_text().split("  - kind: quantize")[0], encoding="utf-8")
    quiet = run_cli("-q", "run", str(teacher_only), "--out", str(tmp_path / "quiet"), cwd=REPO)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
