"""Two CPU processes (torch.distributed.run, gloo) run a recipe end to end: one writer, one set of
folders, the training steps split between them, each export done once, and metrics within noise
of a single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from slimkit import artifacts
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import REPO, TEACHER_STAGE, tiny_recipe

STAGES = TEACHER_STAGE + """  - kind: onnx
    name: onnx
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_split_the_steps_and_write_one_set_of_folders(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=STAGES)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
              "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
              "-m", "slimkit", "run", str(recipe), "--out", str(tmp_path / "two")]
    out = subprocess.run(launch, capture_output=True, text=True, cwd=REPO, timeout=900,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    registry = build_registry()  # the single-process run for comparison, in this process
    execute(plan(recipe, registry), registry, out_dir=str(tmp_path / "one"))
    two, one = tmp_path / "two" / "tiny", tmp_path / "one" / "tiny"
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert not list(two.glob(".*.tmp-*"))
    teacher2, teacher1 = (artifacts.read_manifest(run / "teacher").to_json() for run in (two, one))
    # each process took half the batches, and counted, evaluated and reported its own steps
    assert teacher2["training"]["steps"] * 2 == teacher1["training"]["steps"]
    assert teacher2["training"]["history"][-1]["step"] == teacher2["training"]["steps"]
    assert abs(teacher2["metrics"]["accuracy"] - teacher1["metrics"]["accuracy"]) <= 0.1
    assert teacher2["metrics"]["accuracy"] > 0.8
    onnx = artifacts.read_manifest(two / "onnx").to_json()
    assert onnx["parity"]["argmax_agreement"] == 1.0
    summary = json.loads((two / "summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == ["teacher", "onnx"]
    # one process wrote: the export ran once (one exporter log line), not once per process
    assert out.stderr.count("onnx: running onnx") == 1, out.stderr[-3000:]


def test_threads_are_the_recipes_then_omp_num_threads_then_a_share_of_the_cores(monkeypatch):
    import psutil
    import torch

    from slimkit.launch import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        set_threads(2)
        assert torch.get_num_threads() == 2
        set_threads(None)
        assert torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        set_threads(None)
        assert torch.get_num_threads() == max(1, (psutil.cpu_count(logical=False) or 1) // 2)
    finally:
        torch.set_num_threads(before)
