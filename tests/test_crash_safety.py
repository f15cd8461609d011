"""A run killed (SIGKILL) in a training stage, an export, a quantization or the benchmark leaves no
folder a later run takes as finished; the same command then resumes and ends with the metrics of
an uninterrupted run. A full disk is one line naming the path, exit 1, nothing half-written."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slimkit import artifacts

from .conftest import REPO, TEACHER_STAGE, tiny_recipe

STAGES = TEACHER_STAGE + """  - kind: onnx
    name: onnx
  - kind: quantize
    name: onnx-int8
    mode: static-int8
    calibration_rows: 64
benchmark:
  variants: [onnx-int8]
  backends: [pytorch, onnxruntime]
  devices: [cpu]
  batch_sizes: [1]
  seq_lens: [16]
  warmup: 1
  rounds: 2
  per_round: 3
"""
VARIANTS = ("teacher", "onnx", "onnx-int8")


def slimkit_run(recipe: Path, out: Path, kill_after: str | None = None) -> int:
    """Run the recipe; with ``kill_after``, SIGKILL it 0.3 s after that log line appears."""
    proc = subprocess.Popen([sys.executable, "-m", "slimkit", "run", str(recipe), "--out", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
    for line in proc.stderr:
        if kill_after and kill_after in line:
            time.sleep(0.3)
            proc.kill()
            break
    proc.stderr.close()
    return proc.wait(timeout=600)


def finished(run_dir: Path) -> dict[str, dict]:
    return {name: m.to_json() for name in VARIANTS if (m := artifacts.read_manifest(run_dir / name))}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    from .conftest import write_sentiment_files

    tmp = tmp_path_factory.mktemp("crash")
    train, dev = write_sentiment_files(tmp)
    return tiny_recipe(tmp, train, dev, stages=STAGES)


@pytest.fixture(scope="module")
def uninterrupted(recipe, tmp_path_factory) -> dict[str, dict]:
    from slimkit.planning import plan
    from slimkit.runner import build_registry, execute

    out = tmp_path_factory.mktemp("whole")
    # the same stages, in-process and without the benchmark: only the variants' metrics are compared
    stages_only = out / "stages-only.yaml"
    stages_only.write_text(recipe.read_text().split("benchmark:")[0], encoding="utf-8")
    registry = build_registry()
    execute(plan(stages_only, registry), registry, out_dir=str(out))
    return finished(out / "tiny")


KILLS = [("teacher: running finetune", "teacher"), ("onnx: running onnx", "onnx"),
         ("onnx-int8: running quantize", "onnx-int8"), ("benchmark: measuring", None)]


def test_a_run_killed_at_each_step_resumes_to_the_same_metrics(recipe, uninterrupted, tmp_path):
    """Killed in the teacher's training; run again and killed in the export; again in the
    quantization; again in the benchmark; then run to the end."""
    run_dir = tmp_path / "tiny"
    for moment, killed in KILLS:
        assert slimkit_run(recipe, tmp_path, kill_after=moment) == -9, moment
        done = finished(run_dir)
        if killed:  # the stage it was in is not taken as finished, the ones before it are
            assert set(done) == set(VARIANTS[:VARIANTS.index(killed)]), moment
        else:
            assert set(done) == set(VARIANTS) and not (run_dir / "report.json").exists()
    assert slimkit_run(recipe, tmp_path) == 0
    resumed = finished(run_dir)
    for name in VARIANTS:
        assert resumed[name]["metrics"] == uninterrupted[name]["metrics"], name
    report = json.loads((run_dir / "report.json").read_text())
    assert {r["id"] for r in report["rows"] if r["status"] == "ok"} == {
        "teacher/pytorch/cpu", "teacher/onnxruntime/cpu", "onnx-int8/onnxruntime/cpu"}
    assert not list(run_dir.glob(".*.tmp-*"))


FULL_DISK = """
import sys
from slimkit.cli import main
from slimkit.stage import Variant

def full(self, folder):  # the disk fills (or turns read-only) while the model is written
    (folder / "model.safetensors").write_bytes(b"partial")
    raise OSError({code}, {text!r}, str(folder / "model.safetensors"))

Variant.save = full
sys.exit(main(["-q", "run", {recipe!r}]))
"""


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "No space left on device"),
                                        (errno.EROFS, "Read-only file system")])
def test_a_full_or_read_only_disk_is_one_line_naming_the_path_and_leaves_nothing_half_written(
        tmp_path, sentiment_files, code, text):
    recipe = tiny_recipe(tmp_path, *sentiment_files,
                         stages=TEACHER_STAGE.replace("epochs: 4", "epochs: 1"))
    script = FULL_DISK.format(code=code, text=text, recipe=str(recipe))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                         timeout=600)
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and f"model.safetensors: {text}" in out.stderr, out.stderr
    run_dir = tmp_path / "runs" / "tiny"
    assert sorted(p.name for p in run_dir.iterdir()) == [".slimkit.lock"]
