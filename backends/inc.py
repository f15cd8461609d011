"""Intel Neural Compressor 3.x: PT2E dynamic INT8 graphs, on CPU. INC's converted graph cannot be
saved without pickling, so a variant folder keeps the FP32 weights and the calibration rows, and
the INT8 graph is rebuilt here when the variant opens (once per variant: ``reuse_runtime``)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend
from slimkit.runtime import Runtime, require

CALIBRATION = "inc_calibration.npz"


def _inputs(model: Any) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]


def build_inc(model: Any, calibration: dict[str, np.ndarray]) -> tuple[Any, list[str]]:
    """Export with dynamic batch (>= 2) and sequence axes, insert INC's dynamic INT8, calibrate."""
    import torch

    require("neural_compressor", "inc")
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import DynamicQuantConfig, convert, prepare

    names = _inputs(model)
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


class Inc(Backend):
    name = "inc"
    devices = ("cpu",)
    other_devices = {"cuda": "dynamic INT8 kernels of PyTorch / INC run on CPU only"}
    reuse_runtime = True

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        calibration = np.load(variant.path / CALIBRATION)
        return IncRuntime(variant.model, {k: calibration[k] for k in calibration.files})
