"""OpenVINO: IR files (FP32, BF16 hint, NNCF INT8) and ONNX graphs, on Intel CPUs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend, Ops
from slimkit.launch import physical_cores
from slimkit.manifest import Manifest
from slimkit.runtime import Runtime, feed_for, require


def cpu_has(capability: str) -> bool:
    """Whether OpenVINO's CPU plugin lists ``capability`` (``BF16``: without it a bf16 inference
    hint silently runs FP32)."""
    ov = require("openvino", "openvino")
    return capability in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoRuntime:
    name = "openvino"

    def __init__(self, path: Path, precision: str = "f32", threads: int | None = None,
                 device: str = "CPU", perf_count: bool = False) -> None:  # IR .xml or ONNX file
        ov = require("openvino", "openvino")
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads or physical_cores(),
                  "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": perf_count}
        if precision != "default":  # "default": the device's own choice (BF16 on AMX CPUs)
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(core.read_model(str(path)), device, config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {i.get_any_name() for i in self.compiled.inputs}

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        result = self.request.infer(feed_for(self.inputs, batch))
        return np.asarray(result[self.compiled.outputs[0]], dtype=np.float32)


def _perf_counts(runtime: OpenVinoRuntime, batch: dict[str, np.ndarray], calls: int) -> Ops:
    ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    feed = feed_for(runtime.inputs, batch)
    for _ in range(calls):
        runtime.request.infer(feed)
        for info in runtime.request.get_profiling_info():
            if info.real_time.total_seconds() > 0:
                op = f"{info.node_type} ({info.exec_type})"
                ops[op][0] += info.real_time.total_seconds() * 1e3
                ops[op][1] += 1
    return {op: (ms, count) for op, (ms, count) in ops.items()}


class OpenVino(Backend):
    name = "openvino"
    devices = ("cpu",)
    quantize_modes = frozenset({"dynamic-int8", "static-int8", "bf16"})
    other_devices = {"cuda": "OpenVINO targets Intel devices, not CUDA"}
    reads_onnx_exports = True
    profiles = True

    def precision(self, manifest: Manifest) -> str:
        # a BF16 hint runs FP32 on a CPU without BF16 units: the row says what was measured
        if manifest.backend_options.get("precision") == "bf16" and not cpu_has("BF16"):
            return "fp32 (bf16 hint: no BF16 units here)"
        return super().precision(manifest)

    def runs(self, manifest: Manifest) -> bool:  # it reads ONNX files directly
        return manifest.backend == "onnxruntime" or super().runs(manifest)

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        return OpenVinoRuntime(graph or variant.artifact, variant.options.get("precision", "f32"),
                               threads)

    def profile(self, variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                warmup: int) -> tuple[Ops, float | None]:
        counting = OpenVinoRuntime(variant.artifact, variant.options.get("precision", "f32"),
                                   threads, perf_count=True)
        for _ in range(warmup):
            counting.logits(batch)
        return _perf_counts(counting, batch, calls), None
