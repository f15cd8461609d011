"""Quantization-aware training for ONNX Runtime's dynamic INT8: while a stage trains, every
``nn.Linear`` computes with the rounding the exported INT8 graph will apply, using torch.ao's
``FakeQuantize`` (straight-through gradients) configured to ONNX Runtime's scheme:

- weights: symmetric INT8 in [-127, 127], or [-64, 64] with ``reduce_range`` (the quantize
  stage's default with per-channel scales: ONNX Runtime's u8s8 kernels saturate on 8-bit weights
  on x86 CPUs without VNNI), one scale per output channel (``quantize_dynamic`` with
  ``per_channel: true``), from the current weights;
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

from pydantic import BaseModel, ConfigDict, Field


class FakeQuantConfig(BaseModel):
    """``fake_quant:`` of a training stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: Literal["onnxruntime-dynamic-int8"] = Field(
        "onnxruntime-dynamic-int8", description="the INT8 graph training imitates")
    per_channel: bool = Field(True, description="one weight scale per output channel")
    reduce_range: bool | None = Field(
        None, description="7-bit weights, as the quantize stage's reduce_range exports them; "
                          "default: as per_channel, the quantize stage's own default")

    @property
    def seven_bit_weights(self) -> bool:
        return self.per_channel if self.reduce_range is None else self.reduce_range


def attach(model: Any, cfg: FakeQuantConfig) -> int:
    """Fake-quantize the weight and input of every encoder Linear, and every embedding table;
    returns how many Linear layers. (torch is imported here, not when a recipe is validated.)"""
    from compress.fake_quant_modules import attach_quantizers

    return attach_quantizers(model, cfg.per_channel, cfg.seven_bit_weights)


def detach(model: Any) -> None:
    """Back to a plain float model: the trained float weights, no quantizers, no hooks."""
    from compress.fake_quant_modules import detach_quantizers

    detach_quantizers(model)
