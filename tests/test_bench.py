"""`slimkit bench` on a tiny run: every variant timed against the reference in one process."""

import json
import subprocess
import sys

from slimkit.runner import build_registry, execute, plan

from .conftest import REPO, tiny_recipe

STAGES = """
  - kind: finetune
    name: teacher
    epochs: 1
  - kind: onnx
    name: onnx
  - kind: quantize
    name: onnx-int8
    mode: dynamic-int8
"""


def test_bench_times_every_variant_against_the_reference(tmp_path, sentiment_files):
    registry = build_registry()
    execute(plan(tiny_recipe(tmp_path, *sentiment_files, stages=STAGES), registry), registry)
    report_path = tmp_path / "bench.json"
    out = subprocess.run([sys.executable, "-m", "slimkit", "-q", "bench", str(tmp_path / "runs" / "tiny"),
                          "--batch", "1", "2", "--seq", "16", "--rounds", "2", "--per-round", "3",
                          "--json", str(report_path)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    report = json.loads(report_path.read_text())
    assert set(report["variants"]) == {"teacher", "onnx", "onnx-int8"}
    for entry in report["variants"].values():
        assert [(x["batch_size"], x["seq_len"]) for x in entry["latency"]] == [(1, 16), (2, 16)]
        assert all(x["iterations"] == 6 and x["p50_ms"] > 0 for x in entry["latency"])
    assert all(x["p50_ratio_to_reference"] == 1.0 for x in report["variants"]["teacher"]["latency"])
    assert "| onnx-int8 | onnxruntime |" in out.stdout


def test_bench_of_an_empty_folder_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "slimkit", "bench", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and "holds no finished variants" in out.stderr
