"""CUDA paths: benchmark rows on the GPU (CUDA events, CUDA peak memory) and a TensorRT engine
built from the TensorRT-ready ONNX. Skipped, with the reason, on machines without them."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from benchmarks.harness import bench
from slimkit.planning import plan
from slimkit.runner import build_registry, execute
from slimkit.settings import BenchmarkConfig

from .conftest import TEACHER_STAGE, tiny_recipe

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

STAGES = TEACHER_STAGE + """  - kind: onnx
    name: onnx
  - kind: tensorrt
    name: trt-fp16
    precision: fp16
"""


def test_cuda_rows_are_timed_with_events_and_report_cuda_memory(tmp_path, sentiment_files):
    registry = build_registry()
    execute(plan(tiny_recipe(tmp_path, *sentiment_files, stages=STAGES), registry), registry)
    cfg = BenchmarkConfig(devices=["cuda"], backends=["pytorch", "onnxruntime", "tensorrt"],
                          batch_sizes=[1, 8], seq_lens=[16], rounds=3, per_round=3, warmup=2)
    report = bench(tmp_path / "runs" / "tiny", cfg, progress=False)
    rows = {r["id"]: r for r in report["rows"]}
    reference = rows["teacher/pytorch/cuda"]
    assert reference["status"] == "ok" and reference["cuda_peak_mb"] > 0
    assert reference["quality"]["accuracy"] > 0.8
    if find_spec("tensorrt") is not None:
        engine = rows["trt-fp16/tensorrt/cuda"]
        assert engine["status"] == "ok", engine.get("reason")
        assert engine["quality"]["agreement"] > 0.95
        assert all(x["p50_ms"] > 0 for x in engine["latency"])
    else:
        assert any(s["backend"] == "tensorrt" for s in report["skipped"])
