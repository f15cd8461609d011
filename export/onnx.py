"""``kind: onnx``: export a PyTorch variant to ONNX (dynamo exporter, dynamic batch and sequence
axes), optionally fuse with ONNX Runtime's transformer optimizer, and gate it against PyTorch."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from backends.onnxruntime import OnnxRuntime
from backends.registry import runtime_for
from export.base import ExportError
from slimkit import atomic
from slimkit.parity import ToleranceConfig, gate
from slimkit.runtime import require
from slimkit.stage import FileVariant, RunContext, Stage, Variant, require_pytorch_parent

log = logging.getLogger(__name__)
MODEL_FILE = "model.onnx"
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxConfig(ToleranceConfig):
    """Export to ONNX; the folder also loads with Optimum's ORTModelForSequenceClassification."""

    kind: Literal["onnx"] = "onnx"
    opset: int = Field(18, ge=17, le=23)
    optimize: bool = Field(False, description="ONNX Runtime transformer fusions (LayerNorm, GELU)")
    attention: Literal["model", "eager"] = Field(
        "model", description="attention traced into the graph: the model's own (transformers' "
        "default, sdpa) or eager (MatMul, Softmax; no NaN guard: faster on ONNX Runtime CPU)")


class Onnx(Stage[OnnxConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        require("onnxruntime", "onnx")
        require_pytorch_parent(parent, "onnx")
        with attention_traced(parent.model, self.config.attention):
            path = export_onnx(parent.model, parent.tokenizer, ctx.scratch("onnx") / MODEL_FILE,
                               self.config.opset)
        if self.config.optimize:
            path = optimize_onnx(path, parent.model.config)
        parity = gate(runtime_for(parent), OnnxRuntime(path), parent.tokenizer, ctx, self.config,
                      "onnx export")
        return FileVariant(self.config.variant_name, parent.tokenizer, parent.model.config,
                           {MODEL_FILE: path}, "onnxruntime", parity=parity.to_json(),
                           opset=self.config.opset, optimized=self.config.optimize)


@contextmanager
def attention_traced(model: Any, implementation: str) -> Iterator[None]:
    """The attention implementation the exporter traces; the parent model is given back as it was
    (later stages in this process may use it). sdpa exports with a guard against fully masked rows
    (IsNaN, Where) and extra Transposes: about a fifth of a small model's INT8 time on ORT CPU."""
    before = model.config._attn_implementation
    if implementation == "model" or implementation == before:
        yield
        return
    model.set_attn_implementation(implementation)
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def model_inputs(model: Any) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    return [name for name in TOKEN_INPUTS if name in accepted]


def export_onnx(model: Any, tokenizer: Any, path: Path, opset: int) -> Path:
    """torch.onnx dynamo export with dynamic batch and sequence axes; inputs the model takes."""
    import torch

    require("onnxscript", "onnx")
    names = model_inputs(model)
    sample = tokenizer(["a short sample", "and a somewhat longer sample sentence for export"],
                       padding=True, return_tensors="pt")
    kwargs = {name: sample[name] for name in names if name in sample}
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    try:
        program = torch.onnx.export(
            model.eval().cpu(), (), kwargs=kwargs, dynamo=True, input_names=list(kwargs),
            output_names=["logits"], opset_version=opset,
            dynamic_shapes={name: {0: batch, 1: sequence} for name in kwargs})
        program.save(str(path))
    except Exception as exc:  # the exporter raises many types; keep the first line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"ONNX export of {type(model).__name__} failed: {first}") from exc
    return path


def optimize_onnx(path: Path, config: Any) -> Path:
    from onnxruntime.transformers import optimizer

    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", 0)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    optimized = optimizer.optimize_model(str(path), model_type="bert", num_heads=heads,
                                         hidden_size=hidden, opt_level=1)
    log.info("onnx fusions: %s", optimized.get_fused_operator_statistics())
    with atomic.replacing_file(path) as tmp:
        optimized.save_model_to_file(str(tmp))
    return path
