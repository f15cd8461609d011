"""Quantization-aware training for ONNX Runtime's dynamic INT8: while a stage trains, every
``nn.Linear`` computes with the rounding the exported INT8 graph will apply, using torch.ao's
``FakeQuantize`` (straight-through gradients) configured to ONNX Runtime's scheme:

- weights: symmetric INT8 in [-127, 127], one scale per output channel (``quantize_dynamic``
  with ``per_channel: true``), from the current weights;
- inputs: asymmetric UINT8 in [0, 255] per tensor, from each call's own min / max with zero
  included (``DynamicQuantizeLinear``), i.e. dynamic;
- embedding tables: asymmetric UINT8 per tensor (its quantized Gather, then DequantizeLinear).

Only the encoder's Linear layers are fake-quantized: they run on token sequences and export as
weight MatMuls, which is what ``quantize_dynamic`` turns into MatMulInteger (with
``weight_matmuls_only: true``, attention's activation products stay float). The pooler and the
classifier run on one vector per row and export as Gemm, which it leaves in float, so they are
left alone here too. After training the fake quantizers are removed and the float weights are
saved."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.ao.quantization import FakeQuantize
from torch.ao.quantization.observer import (
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
)
from torch.nn.utils import parametrize

HOOK = "_slimkit_input_fake_quant"
HEAD = ("pooler", "classifier", "pre_classifier")  # the head's Linear layers: Gemm in ONNX


class FakeQuantConfig(BaseModel):
    """``fake_quant:`` of a training stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: Literal["onnxruntime-dynamic-int8"] = Field(
        "onnxruntime-dynamic-int8", description="the INT8 graph training imitates")
    per_channel: bool = Field(True, description="one weight scale per output channel")


def _weight_quantizer(per_channel: bool) -> FakeQuantize:
    if per_channel:
        observer = MovingAveragePerChannelMinMaxObserver.with_args(
            averaging_constant=1.0, ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        observer = MovingAverageMinMaxObserver.with_args(
            averaging_constant=1.0, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return FakeQuantize(observer=observer, quant_min=-127, quant_max=127)


def _input_quantizer() -> FakeQuantize:
    observer = MovingAverageMinMaxObserver.with_args(
        averaging_constant=1.0, dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    return FakeQuantize(observer=observer, quant_min=0, quant_max=255)


def _table_quantizer() -> FakeQuantize:
    observer = MovingAverageMinMaxObserver.with_args(
        averaging_constant=1.0, dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    return FakeQuantize(observer=observer, quant_min=0, quant_max=255)


class WeightFakeQuant(torch.nn.Module):
    """A parametrization: the weight as the INT8 graph will hold it."""

    def __init__(self, quantizer: FakeQuantize) -> None:
        super().__init__()
        self.fake_quant = quantizer

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.fake_quant(weight)


def _quantize_input(module: Any, args: tuple) -> tuple:
    return (getattr(module, HOOK)(args[0]), *args[1:])


def attach(model: Any, cfg: FakeQuantConfig) -> int:
    """Fake-quantize the weight and input of every encoder Linear, and every embedding table;
    returns how many Linear layers."""
    linears = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
               and not any(part in HEAD for part in name.split("."))]
    for linear in linears:
        parametrize.register_parametrization(linear, "weight",
                                             WeightFakeQuant(_weight_quantizer(cfg.per_channel)))
        linear.add_module(HOOK, _input_quantizer())
        linear._slimkit_hook = linear.register_forward_pre_hook(_quantize_input)
    for table in [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]:
        parametrize.register_parametrization(table, "weight", WeightFakeQuant(_table_quantizer()))
    return len(linears)


def detach(model: Any) -> None:
    """Back to a plain float model: the trained float weights, no quantizers, no hooks."""
    for module in model.modules():
        if hasattr(module, "_slimkit_hook"):
            module._slimkit_hook.remove()
            del module._slimkit_hook
            delattr(module, HOOK)
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
