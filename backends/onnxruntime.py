"""ONNX Runtime: ONNX graphs (FP32, FP16, dynamic INT8, static Q/DQ INT8), on CPU, or CUDA with
onnxruntime-gpu. A plain PyTorch variant runs here through an ONNX export the benchmark makes."""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend, Ops
from slimkit.launch import physical_cores
from slimkit.manifest import Manifest
from slimkit.runtime import Runtime, feed_for, require


def session(path: Path, threads: int | None, device: str = "cpu",
            profile_prefix: str | None = None) -> Any:
    """An InferenceSession with slimkit's settings: intra-op threads, one inter-op thread."""
    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        # ONNX Runtime has no environment variable of its own: it waits like OpenMP is told to
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
        else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=providers)


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu") -> None:
        self.session = session(path, threads, device)
        self.inputs = {i.name for i in self.session.get_inputs()}

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, feed_for(self.inputs, batch))[0], dtype=np.float32)


def _kernel_times(trace: Path, calls: int) -> Ops:
    """Per operator type, the kernel time of the last ``calls`` runs (the warm-up ones left out)."""
    per_node: dict[str, list[float]] = defaultdict(list)
    for event in json.loads(trace.read_text(encoding="utf-8")):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_node[event["args"]["op_name"] + "\0" + event["name"]].append(event["dur"] / 1e3)
    ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for key, durations in per_node.items():
        kept = durations[-calls:]
        op = key.split("\0")[0]
        ops[op][0] += sum(kept)
        ops[op][1] += len(kept)
    return {op: (ms, count) for op, (ms, count) in ops.items()}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    devices = ("cpu", "cuda")
    quantize_modes = frozenset({"dynamic-int8", "static-int8", "fp16"})
    reads_onnx_exports = True
    profiles = True

    def device_problem(self, manifest: Manifest, device: str) -> str | None:
        if device == "cuda":
            ort = require("onnxruntime", "onnx")
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                return "onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)"
        return super().device_problem(manifest, device)

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        return OnnxRuntime(graph or variant.artifact, threads=threads, device=device)

    def profile(self, variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                warmup: int) -> tuple[Ops, float | None]:
        prefix = str(Path(tempfile.mkdtemp(prefix="slimkit-ort-")) / "profile")
        profiled = session(variant.artifact, threads, profile_prefix=prefix)
        feed = feed_for({i.name for i in profiled.get_inputs()}, batch)
        for _ in range(warmup + calls):
            profiled.run(None, feed)
        trace = Path(profiled.end_profiling())
        ops = _kernel_times(trace, calls)
        trace.unlink(missing_ok=True)
        return ops, None
