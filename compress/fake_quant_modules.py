"""The torch side of ``compress/fake_quant.py``: torch.ao fake quantizers set to ONNX Runtime's
dynamic INT8 scheme, attached to a model as weight parametrizations and input pre-hooks."""

from __future__ import annotations

from typing import Any

import torch
from torch.ao.quantization import FakeQuantize
from torch.ao.quantization.observer import (
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
)
from torch.nn.utils import parametrize

HOOK = "_slimkit_input_fake_quant"
HEAD = ("pooler", "classifier", "pre_classifier")  # the head's Linear layers: Gemm in ONNX


def _weight_quantizer(per_channel: bool, reduce_range: bool) -> FakeQuantize:
    if per_channel:
        observer = MovingAveragePerChannelMinMaxObserver.with_args(
            averaging_constant=1.0, ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        observer = MovingAverageMinMaxObserver.with_args(
            averaging_constant=1.0, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    # ONNX Runtime's symmetric range: scale = max|w| / 127, or / 64 with reduce_range
    bound = 64 if reduce_range else 127
    return FakeQuantize(observer=observer, quant_min=-bound, quant_max=bound)


def _input_quantizer() -> FakeQuantize:
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


def attach_quantizers(model: Any, per_channel: bool, reduce_range: bool) -> int:
    """Fake-quantize the weight and input of every encoder Linear, and every embedding table;
    returns how many Linear layers."""
    linears = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
               and not any(part in HEAD for part in name.split("."))]
    for linear in linears:
        parametrize.register_parametrization(linear, "weight",
                                             WeightFakeQuant(_weight_quantizer(per_channel, reduce_range)))
        linear.add_module(HOOK, _input_quantizer())
        linear._slimkit_hook = linear.register_forward_pre_hook(_quantize_input)
    for table in [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]:
        # the tables are quantized like the inputs: UINT8, per tensor, from their own range
        parametrize.register_parametrization(table, "weight", WeightFakeQuant(_input_quantizer()))
    return len(linears)


def detach_quantizers(model: Any) -> None:
    """Back to a plain float model: the trained float weights, no quantizers, no hooks."""
    for module in model.modules():
        if hasattr(module, "_slimkit_hook"):
            module._slimkit_hook.remove()
            del module._slimkit_hook
            delattr(module, HOOK)
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
