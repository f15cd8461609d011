"""TensorRT: engines built from a TensorRT-ready ONNX graph (``kind: tensorrt``: FP16, or INT8
Q/DQ), on CUDA only, fed through CUDA tensors. The engine is built here where ``tensorrt``
imports; the ``kind: tensorrt`` stage calls ``build_engine`` too."""

from __future__ import annotations

import json
import logging
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend
from slimkit.errors import SlimkitError
from slimkit.manifest import Manifest
from slimkit.runtime import Runtime, feed_for, require

log = logging.getLogger(__name__)
PROFILES = "tensorrt_profiles.json"


def profiles_for(path: Path) -> dict[str, Any]:
    """The min / opt / max shapes written beside a TensorRT-ready graph."""
    return json.loads(path.with_name(PROFILES).read_text(encoding="utf-8"))


def build_engine(path: Path, profiles: dict[str, Any], precision: str,
                 plan: Path | None = None) -> dict[str, Any] | None:
    """Build a TensorRT engine where the package imports; None (and why, logged) elsewhere."""
    try:
        import tensorrt as trt
    except ImportError:
        log.info("tensorrt is not installed here: the graph was checked with onnx.checker and "
                 "ONNX Runtime; build it on the target with the trtexec command in the manifest")
        return None
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SlimkitError(f"TensorRT could not parse the graph: {errors}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    for name, shape in profiles.items():
        profile.set_shape(name, shape["min"], shape["opt"], shape["max"])
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SlimkitError("TensorRT failed to build an engine from the graph")
    plan = plan or path.with_name("model.plan")
    plan.write_bytes(bytes(engine))
    return {"file": plan.name, "bytes": plan.stat().st_size, "tensorrt": trt.__version__}


class TensorRtRuntime:
    """A TensorRT engine built from a TensorRT-ready ONNX file, fed through CUDA tensors."""

    name = "tensorrt"

    def __init__(self, path: Path, precision: str = "fp16") -> None:
        import torch

        trt = require("tensorrt", "tensorrt")
        plan = path.with_name("model.plan")
        if not plan.is_file():  # built once per process, outside the variant's folder
            import tempfile

            plan = Path(tempfile.mkdtemp(prefix="slimkit-trt-")) / "model.plan"
            build_engine(path, profiles_for(path), precision, plan)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output = next(n for n in names if n not in self.inputs)
        self.stream = torch.cuda.Stream()

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        feed = feed_for(set(self.inputs), batch)
        tensors = {n: torch.from_numpy(feed[n]).cuda() for n in self.inputs}
        for name, tensor in tensors.items():
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output)), device="cuda")
        self.context.set_tensor_address(self.output, out.data_ptr())
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        return out.float().cpu().numpy()


class TensorRt(Backend):
    name = "tensorrt"
    devices = ("cuda",)
    other_devices = {"cpu": "TensorRT runs on CUDA only"}

    def runs(self, manifest: Manifest) -> bool:  # a TensorRT-ready ONNX graph (kind: tensorrt)
        return manifest.tensorrt is not None

    def device_problem(self, manifest: Manifest, device: str) -> str | None:
        if device == "cuda" and find_spec("tensorrt") is None:
            return "tensorrt is not installed (install slimkit[tensorrt] on the CUDA machine)"
        return super().device_problem(manifest, device)

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        record = variant.manifest.tensorrt
        return TensorRtRuntime(graph or variant.artifact, record.precision if record else "fp16")
