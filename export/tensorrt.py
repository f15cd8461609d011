"""``kind: tensorrt``: TensorRT-ready ONNX: an FP16 graph, or explicit symmetric INT8 Q/DQ (what
TensorRT takes), with min / opt / max shape profiles written beside it. Where ``tensorrt`` imports
(a GPU machine) an engine is built from it; elsewhere the graph is checked with ``onnx.checker``
and run in ONNX Runtime against the FP32 parent."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt

from backends.onnxruntime import OnnxRuntime
from backends.registry import runtime_for
from backends.tensorrt import PROFILES, build_engine
from compress.quantize_backends import ort_static, weight_matmuls
from export.base import ExportError
from slimkit.parity import ToleranceConfig, gate
from slimkit.runtime import require
from slimkit.stage import FileVariant, RunContext, Stage, Variant

log = logging.getLogger(__name__)
Role = Literal["ffn_output", "head"]


class TensorRtConfig(ToleranceConfig):
    """Make an ONNX variant TensorRT-ready; INT8 leaves the listed sensitive MatMuls in float."""

    kind: Literal["tensorrt"] = "tensorrt"
    precision: Literal["fp16", "int8"] = "int8"
    keep_float: list[Role] = Field(
        default_factory=lambda: ["ffn_output", "head"],
        description="MatMul roles left unquantized: FFN output projections (outlier activations "
                    "after GELU) and the pooler / classifier head")
    calibration: Literal["minmax", "percentile", "entropy"] = "minmax"
    calibration_rows: PositiveInt = 300
    max_batch: PositiveInt = 32
    opt_batch: PositiveInt = 1
    atol: float = Field(3.0, gt=0)
    min_agreement: float = Field(0.9, ge=0, le=1)


class TensorRt(Stage[TensorRtConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        onnx = require("onnx", "onnx")
        if parent.backend != "onnxruntime":
            raise ExportError(f"tensorrt starts from an FP32 ONNX variant (kind: onnx), not "
                              f"'{parent.name}' ({parent.backend})")
        scratch = ctx.scratch("tensorrt")
        out = scratch / "model.onnx"
        excluded = self._build(parent, ctx, out)
        onnx.checker.check_model(str(out))
        parity = gate(runtime_for(parent), OnnxRuntime(out), parent.tokenizer, ctx, self.config,
                      f"tensorrt {self.config.precision}")
        profiles = shape_profiles(parent.tokenizer, ctx.recipe.data.max_length, self.config)
        (scratch / PROFILES).write_text(json.dumps(profiles, indent=2) + "\n", encoding="utf-8")
        engine = build_engine(out, profiles, self.config.precision)
        files = {out.name: out, PROFILES: scratch / PROFILES}
        if engine:
            files[engine["file"]] = scratch / engine["file"]
        return FileVariant(self.config.variant_name, parent.tokenizer, parent.config, files,
                           "onnxruntime", precision="fp16" if self.config.precision == "fp16"
                           else "int8 q/dq", parity=parity.to_json(), tensorrt={
                               "precision": self.config.precision, "kept_float": excluded,
                               "trtexec": trtexec_command(profiles, self.config.precision),
                               "engine": engine})

    def _build(self, parent: Variant, ctx: RunContext, out: Path) -> list[str]:
        if self.config.precision == "fp16":
            import onnx
            from onnxconverter_common import float16

            onnx.save(float16.convert_float_to_float16(onnx.load(str(parent.artifact)),
                                                       keep_io_types=True), str(out))
            return []
        excluded = sensitive_matmuls(parent.artifact, self.config.keep_float)
        ort_static(parent, self.config, ctx, parent.artifact, out, symmetric=True, exclude=excluded)
        return excluded


def sensitive_matmuls(path: Path, roles: list[str]) -> list[str]:
    """Weight MatMuls with the given roles, found from the graph's structure (the dynamo exporter
    names nodes generically): an FFN output projection reads a GELU; the head is the last two."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = weight_matmuls(path)
    producer = {o: n for n in graph.node for o in n.output}
    chosen = []
    if "ffn_output" in roles:
        for node in graph.node:
            if node.name in weights and _reads_gelu(node, producer):
                chosen.append(node.name)
    if "head" in roles:
        chosen += [n for n in weights[-2:] if n not in chosen]
    return chosen


def _reads_gelu(node: Any, producer: dict[str, Any]) -> bool:
    """True when the node's activation comes out of a GELU (fused, or Erf / Tanh based)."""
    for name in node.input:
        source = producer.get(name)
        if source is None:
            continue
        if source.op_type in ("Gelu", "FastGelu", "BiasGelu"):
            return True
        if source.op_type == "Mul" and _has_ancestor(source, producer, ("Erf", "Tanh"), depth=4):
            return True
    return False


def _has_ancestor(node: Any, producer: dict[str, Any], ops: tuple[str, ...], depth: int) -> bool:
    if depth == 0:
        return False
    for name in node.input:
        parent = producer.get(name)
        if parent is not None and (parent.op_type in ops
                                   or _has_ancestor(parent, producer, ops, depth - 1)):
            return True
    return False


def shape_profiles(tokenizer: Any, max_length: int, cfg: TensorRtConfig) -> dict[str, Any]:
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in tokenizer.model_input_names]
    shapes = {"min": [1, 1], "opt": [cfg.opt_batch, min(64, max_length)],
              "max": [cfg.max_batch, max_length]}
    return {name: shapes for name in names}


def trtexec_command(profiles: dict[str, Any], precision: str) -> str:
    def spec(which: str) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, shape[which]))}" for name, shape in profiles.items())

    flags = "--fp16" if precision == "fp16" else "--int8 --fp16"
    return (f"trtexec --onnx=model.onnx --minShapes={spec('min')} --optShapes={spec('opt')} "
            f"--maxShapes={spec('max')} {flags} --saveEngine=model.plan")
