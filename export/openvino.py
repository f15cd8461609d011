"""``kind: openvino``: OpenVINO IR (``openvino_model.xml`` + ``.bin``) that optimum-intel's
OVModelForSequenceClassification loads, converted from the dynamo ONNX export (converting the
PyTorch module directly fails on transformers 5 here), then gated against PyTorch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backends.openvino import OpenVinoRuntime
from backends.registry import runtime_for
from export.onnx import export_onnx
from slimkit.parity import ToleranceConfig, gate
from slimkit.runtime import require
from slimkit.stage import FileVariant, RunContext, Stage, Variant, require_pytorch_parent

IR_FILE = "openvino_model.xml"


class OpenVinoConfig(ToleranceConfig):
    """Export to OpenVINO IR; FP32 weights, or FP16-compressed weights."""

    kind: Literal["openvino"] = "openvino"
    weights: Literal["fp32", "fp16"] = Field("fp32", description="stored weight precision")
    precision: Literal["f32", "bf16"] = Field(
        "f32", description="inference precision hint (bf16 runs on AVX512-BF16 / AMX CPUs)")
    opset: int = Field(18, ge=17, le=23)


class OpenVino(Stage[OpenVinoConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        ov = require("openvino", "openvino")
        require_pytorch_parent(parent, "openvino")
        scratch = ctx.scratch("openvino")
        onnx_path = export_onnx(parent.model, parent.tokenizer, scratch / "model.onnx",
                                self.config.opset)
        xml = scratch / IR_FILE
        ov.save_model(ov.convert_model(str(onnx_path)), str(xml),
                      compress_to_fp16=self.config.weights == "fp16")
        runtime = OpenVinoRuntime(xml, precision=self.config.precision)
        parity = gate(runtime_for(parent), runtime, parent.tokenizer, ctx, self.config,
                      f"openvino {self.config.precision}")
        return FileVariant(self.config.variant_name, parent.tokenizer, parent.model.config,
                           {IR_FILE: xml, "openvino_model.bin": xml.with_suffix(".bin")},
                           "openvino", options={"precision": self.config.precision},
                           precision="bf16" if self.config.precision == "bf16" else "fp32",
                           parity=parity.to_json(), weights=self.config.weights)
