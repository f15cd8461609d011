"""One interface over the inference backends: feed a batch of numpy token arrays, get logits.

Heavy backends are imported inside the functions that open them; a missing one names its extra.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from slimkit.errors import SlimkitError

INC_CALIBRATION = "inc_calibration.npz"


class Runtime(Protocol):
    name: str

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def require(module: str, extra: str) -> Any:
    """Import a backend or fail with the one line that says how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SlimkitError(f"{module} is not installed: install slimkit[{extra}]") from None


def feed_for(inputs: set[str], batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's inputs from a tokenizer batch; token types default to zeros (segment A) when
    the tokenizer does not produce them but the exported graph takes them."""
    feed = {k: v for k, v in batch.items() if k in inputs}
    if "token_type_ids" in inputs and "token_type_ids" not in feed:
        feed["token_type_ids"] = np.zeros_like(batch["input_ids"])
    return feed


def threads_default() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class TorchRuntime:
    name = "pytorch"

    def __init__(self, model: Any, device: str = "cpu", threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.model, self.device = model.eval().to(device), device

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            return self.model(**inputs).logits.float().cpu().numpy()


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu") -> None:
        ort = require("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or threads_default()
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
            else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = {i.name for i in self.session.get_inputs()}

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, feed_for(self.inputs, batch))[0], dtype=np.float32)


class OpenVinoRuntime:
    name = "openvino"

    def __init__(self, path: Path, precision: str = "f32", threads: int | None = None,
                 device: str = "CPU", perf_count: bool = False) -> None:  # IR .xml or ONNX file
        ov = require("openvino", "openvino")
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads or threads_default(), "PERFORMANCE_HINT": "LATENCY",
                  "PERF_COUNT": perf_count}
        if precision != "default":  # "default": the device's own choice (BF16 on AMX CPUs)
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(core.read_model(str(path)), device, config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {i.get_any_name() for i in self.compiled.inputs}

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        result = self.request.infer(feed_for(self.inputs, batch))
        return np.asarray(result[self.compiled.outputs[0]], dtype=np.float32)


def _inc_inputs(model: Any) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]


def build_inc(model: Any, calibration: dict[str, np.ndarray]) -> Any:
    """Export with dynamic batch (>= 2) and sequence axes, insert INC's dynamic INT8, calibrate."""
    import torch

    require("neural_compressor", "inc")
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import DynamicQuantConfig, convert, prepare

    names = _inc_inputs(model)
    example = tuple(torch.from_numpy(calibration[n][:2]) for n in names)
    batch, seq = torch.export.Dim("batch", min=2), torch.export.Dim("sequence", max=512)
    exported = export(model.eval(), example, dynamic_shapes=tuple({0: batch, 1: seq} for _ in names))
    prepared = prepare(exported, DynamicQuantConfig(), example_inputs=example)
    with torch.no_grad():
        for start in range(0, len(calibration[names[0]]) - 1, 8):
            prepared(*(torch.from_numpy(calibration[n][start:start + 8]) for n in names))
    return convert(prepared), names


class IncRuntime:
    name = "inc"

    def __init__(self, model: Any, calibration: dict[str, np.ndarray]) -> None:
        self.graph, self.names = build_inc(model, calibration)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        single = len(batch["input_ids"]) == 1  # the graph was exported for batch >= 2
        args = [torch.from_numpy(np.concatenate([batch[n]] * 2) if single else batch[n])
                for n in self.names]
        with torch.no_grad():
            out = self.graph(*args).logits.float().numpy()
        return out[:1] if single else out


def runtime_for(variant: Any, device: str = "cpu") -> Runtime:
    """The runtime that executes a variant on the backend it was made for."""
    if getattr(variant, "runtime", None) is not None:  # a runtime the stage already built
        return variant.runtime
    if variant.backend == "inc":
        variant.runtime = open_runtime(variant, "inc")
        return variant.runtime
    return open_runtime(variant, variant.backend, device)


def open_runtime(variant: Any, backend: str, device: str = "cpu", threads: int | None = None,
                 graph: Path | None = None) -> Runtime:
    """A variant on a given backend; ``graph`` is an ONNX file standing in for a PyTorch variant
    on a file backend (the benchmark exports one)."""
    artifact = graph or getattr(variant, "artifact", None)
    if backend == "pytorch":
        return TorchRuntime(variant.model, device, threads)
    if backend == "inc":
        calibration = np.load(variant.path / INC_CALIBRATION)
        return IncRuntime(variant.model, {k: calibration[k] for k in calibration.files})
    if backend == "onnxruntime":
        return OnnxRuntime(artifact, threads=threads, device=device)
    if backend == "openvino":
        precision = getattr(variant, "options", {}).get("precision", "f32")
        return OpenVinoRuntime(artifact, precision=precision, threads=threads)
    if backend == "tensorrt":
        return TensorRtRuntime(artifact, variant.manifest.get("tensorrt", {}).get("precision", "fp16"))
    raise SlimkitError(f"no runtime for backend {backend!r}")


class TensorRtRuntime:
    """A TensorRT engine built from a TensorRT-ready ONNX file, fed through CUDA tensors."""

    name = "tensorrt"

    def __init__(self, path: Path, precision: str = "fp16") -> None:
        import torch

        trt = require("tensorrt", "tensorrt")
        from export.tensorrt import build_engine, profiles_for

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
