"""PyTorch: eager ``nn.Module`` variants (FP32, FP16, BF16, dynamic INT8), on CPU or CUDA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend, Ops
from slimkit.manifest import Manifest
from slimkit.runtime import Runtime


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


def torch_ops(runtime: Runtime, batch: dict[str, np.ndarray], calls: int) -> tuple[Ops, float]:
    """torch.profiler's self CPU time per operator, and the FLOPs of one call."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        for _ in range(calls):
            runtime.logits(batch)
    ops, flops = {}, 0.0
    for event in prof.key_averages():
        if event.self_cpu_time_total > 0:
            ops[event.key] = (event.self_cpu_time_total / 1e3, event.count)
        flops += event.flops or 0
    return ops, flops / calls


def count_flops(model: Any, batch: dict[str, np.ndarray], calls: int = 2) -> float | None:
    """FLOPs of one call of a PyTorch model, as torch.profiler counts them."""
    return torch_ops(TorchRuntime(model), batch, calls)[1] or None


class PyTorch(Backend):
    name = "pytorch"
    devices = ("cpu", "cuda")
    quantize_modes = frozenset({"dynamic-int8", "fp16", "bf16"})
    profiles = True

    def device_problem(self, manifest: Manifest, device: str) -> str | None:
        if device == "cuda" and manifest.precision == "int8 dynamic":
            return "dynamic INT8 kernels of PyTorch / INC run on CPU only"
        return super().device_problem(manifest, device)

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        return TorchRuntime(variant.model, device, threads)

    def profile(self, variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                warmup: int) -> tuple[Ops, float | None]:
        runtime = self.open(variant, "cpu", threads)
        for _ in range(warmup):
            runtime.logits(batch)
        ops, flops = torch_ops(runtime, batch, calls)
        return ops, flops or None
