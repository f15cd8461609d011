"""``kind: quantize``: INT8 (dynamic or static), FP16 and BF16 for the backend the parent targets.

| parent backend | dynamic-int8 | static-int8 | fp16 | bf16 |
|---|---|---|---|---|
| pytorch | torch.ao quantize_dynamic (Linear) | - | half weights | bfloat16 weights |
| onnxruntime | ORT quantize_dynamic | ORT QDQ, calibrated | float16 graph, float32 I/O | - |
| openvino | NNCF weight compression | NNCF quantize (transformer) | - | BF16 inference hint |
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from backends.registry import backends, runtime_for
from slimkit.errors import RecipeError, SlimkitError
from slimkit.manifest import precision_of_mode
from slimkit.parity import ToleranceConfig, gate
from slimkit.stage import RunContext, Stage, StageConfig, Variant


class QuantizeConfig(ToleranceConfig):
    """Quantize the parent for its own backend, then gate the result against the parent."""

    kind: Literal["quantize"] = "quantize"
    mode: Literal["dynamic-int8", "static-int8", "fp16", "bf16"]
    engine: Literal["native", "inc"] = Field(
        "native", description="'inc': Intel Neural Compressor's PT2E dynamic INT8 (PyTorch parent)")
    calibration_rows: PositiveInt = Field(300, description="training rows for static-int8")
    weight_matmuls_only: bool | None = Field(
        None, description="ONNX Runtime: quantize only MatMuls with a weight input (default: "
                          "true for static-int8, false for dynamic-int8)")
    per_channel: bool = Field(False, description="ONNX Runtime: one weight scale per output "
                              "channel (what fake_quant trains for)")
    reduce_range: bool | None = Field(
        None, description="ONNX Runtime INT8: 7-bit weights, computed exactly on every x86 CPU "
                          "(without VNNI its u8s8 kernels saturate on 8-bit weights); false: "
                          "8-bit, exact only on VNNI / AMX CPUs; default: as per_channel")
    other_scheme_than_trained: bool = Field(
        False, description="export a fake_quant-trained model with another INT8 scheme than "
                           "training imitated, on purpose (a study's control row)")
    atol: float = Field(3.0, gt=0, description="largest |logit difference| allowed vs the parent")
    min_agreement: float = Field(0.9, ge=0, le=1)

    def check_lineage(self, ancestors: list[StageConfig]) -> None:
        """An ONNX Runtime INT8 export of a model trained with ``fake_quant`` must use the scheme
        training imitated, or the rounding it learned to absorb is not the one it gets."""
        if (not self.mode.endswith("int8") or not ancestors or ancestors[0].kind != "onnx"
                or self.other_scheme_than_trained):
            return
        trained = next((a for a in ancestors if getattr(a, "fake_quant", None) is not None), None)
        if trained is None:
            return
        fq = trained.fake_quant
        for field, mine, theirs in (("per_channel", self.per_channel, fq.per_channel),
                                    ("reduce_range", self.seven_bit_weights, fq.seven_bit_weights)):
            if mine != theirs:
                raise RecipeError(
                    f"{field} is {str(mine).lower()} here but '{trained.variant_name}' trained "
                    f"with fake_quant {field} {str(theirs).lower()}", field=field,
                    fix=f"set {field}: {str(theirs).lower()}, or change the fake_quant, or "
                        "set other_scheme_than_trained: true if the difference is the point")

    @property
    def seven_bit_weights(self) -> bool:
        """Per-channel scales put many weights near the ends of the range, where AVX2 saturates,
        and 7 bits cost them little; one scale per tensor leaves most weights small, and 7 bits
        cost them much (measured, README: SST-2 teacher -1.95 pt per tensor, -0.34 per channel)."""
        return self.per_channel if self.reduce_range is None else self.reduce_range


class Quantize(Stage[QuantizeConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress import quantize_backends as qb

        mode = self.config.mode
        if self.config.engine == "inc":
            if parent.backend != "pytorch" or mode != "dynamic-int8":
                raise SlimkitError("engine: inc offers dynamic-int8 on a PyTorch parent only")
            from compress import quantize_inc

            variant = quantize_inc.quantize(parent, self.config, ctx)
            return self._gated(variant, parent, ctx)
        modes = backends().get(parent.backend).quantize_modes
        if mode not in modes:
            raise SlimkitError(f"quantize {mode} is not available for a {parent.backend} parent "
                               f"('{parent.name}'); it supports {sorted(modes)}")
        build = qb.BUILDERS[parent.backend]
        return self._gated(build(parent, self.config, ctx, ctx.scratch("quantize")), parent, ctx)

    def _gated(self, variant: Variant, parent: Variant, ctx: RunContext) -> Variant:
        variant.name, variant.precision = self.config.variant_name, precision_of_mode(self.config.mode)
        parity = gate(runtime_for(parent), runtime_for(variant), parent.tokenizer, ctx, self.config,
                      f"quantize {self.config.mode}")
        record = {"mode": self.config.mode, "engine": self.config.engine,
                  "backend": parent.backend, "parent": parent.name,
                  "measured_as": variant.extras.pop("measured_as", None)}
        if parent.backend == "onnxruntime" and self.config.mode.endswith("int8"):
            record["reduce_range"] = self.config.seven_bit_weights
        variant.extras.update(parity=parity.to_json(), quantization=record)
        return variant

