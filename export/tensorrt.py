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

from export.base import ExportError, ToleranceConfig, gate
from slimkit.stage import FileVariant, RunContext, Stage, Variant

log = logging.getLogger(__name__)
PROFILES = "tensorrt_profiles.json"
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
        from slimkit.runtimes import OnnxRuntime, require

        onnx = require("onnx", "onnx")
        if parent.backend != "onnxruntime":
            raise ExportError(f"tensorrt starts from an FP32 ONNX variant (kind: onnx), not "
                              f"'{parent.name}' ({parent.backend})")
        scratch = ctx.scratch("tensorrt")
        out = scratch / "model.onnx"
        excluded = self._build(parent, ctx, out)
        onnx.checker.check_model(str(out))
        parity = gate(parent, OnnxRuntime(out), ctx, self.config, f"tensorrt {self.config.precision}")
        profiles = shape_profiles(parent.tokenizer, ctx.recipe.data.max_length, self.config)
        (scratch / PROFILES).write_text(json.dumps(profiles, indent=2) + "\n", encoding="utf-8")
        engine = build_engine(out, profiles, self.config.precision)
        files = {out.name: out, PROFILES: scratch / PROFILES}
        if engine:
            files[engine["file"]] = scratch / engine["file"]
        return FileVariant(self.config.variant_name, parent.tokenizer, parent.config, files,
                           "onnxruntime",
                           parity=parity.to_json(), tensorrt={
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
        from compress.quantize_backends import ort_static

        excluded = sensitive_matmuls(parent.artifact, self.config.keep_float)
        ort_static(parent, self.config, ctx, parent.artifact, out, symmetric=True, exclude=excluded)
        return excluded


def sensitive_matmuls(path: Path, roles: list[str]) -> list[str]:
    """Weight MatMuls with the given roles, found from the graph's structure (the dynamo exporter
    names nodes generically): an FFN output projection reads a GELU; the head is the last two."""
    import onnx

    from compress.quantize_backends import weight_matmuls

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


def profiles_for(path: Path) -> dict[str, Any]:
    """The min / opt / max shapes written beside a TensorRT-ready graph."""
    return json.loads(path.with_name(PROFILES).read_text(encoding="utf-8"))


def trtexec_command(profiles: dict[str, Any], precision: str) -> str:
    def spec(which: str) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, shape[which]))}" for name, shape in profiles.items())

    flags = "--fp16" if precision == "fp16" else "--int8 --fp16"
    return (f"trtexec --onnx=model.onnx --minShapes={spec('min')} --optShapes={spec('opt')} "
            f"--maxShapes={spec('max')} {flags} --saveEngine=model.plan")


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
        raise ExportError(f"TensorRT could not parse the graph: {errors}")
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
        raise ExportError("TensorRT failed to build an engine from the graph")
    plan = plan or path.with_name("model.plan")
    plan.write_bytes(bytes(engine))
    return {"file": plan.name, "bytes": plan.stat().st_size, "tensorrt": trt.__version__}
