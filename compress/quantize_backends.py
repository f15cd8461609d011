"""The per-backend quantization recipes behind ``kind: quantize``."""

from __future__ import annotations

import copy
import logging
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from slimkit.batching import encode
from slimkit.runtime import require
from slimkit.stage import FileVariant, RunContext, Variant

log = logging.getLogger(__name__)


def calibration_batches(parent: Variant, ctx: RunContext, rows: int,
                        fixed_length: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """Seeded training rows, one per batch at its own length (int64 numpy, as runtimes take);
    padded to data.max_length when the calibrator needs equal shapes (histograms)."""
    rng = random.Random(ctx.seed)
    picked = ctx.train.subset(rng.sample(range(len(ctx.train)), min(rows, len(ctx.train))))
    encoded = encode(picked, parent.tokenizer, ctx.recipe.data.max_length)
    for feature in encoded.features:
        if fixed_length:
            feature = parent.tokenizer.pad(feature, padding="max_length",
                                           max_length=ctx.recipe.data.max_length)
        yield {k: np.asarray([v], dtype=np.int64) for k, v in feature.items()}


def without_capture_hooks(model: Any) -> Any:
    """Drop the forward hooks transformers installs on first use for output_hidden_states: they
    are local closures, so a model that ran once (e.g. distilled in this process) cannot be
    pickled; transformers re-installs them when it needs them."""
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "__name__", "") == "output_capturing_hook":
                del module._forward_hooks[key]
        if hasattr(module, "_output_capturing_hooks_installed"):
            module._output_capturing_hooks_installed = False
    return model


def pytorch(parent: Variant, cfg: Any, ctx: RunContext, scratch: Path) -> Variant:
    import torch

    model = without_capture_hooks(copy.deepcopy(parent.model).eval())
    if cfg.mode in ("fp16", "bf16"):
        model = model.to(torch.float16 if cfg.mode == "fp16" else torch.bfloat16)
        return Variant(name="", model=model, tokenizer=parent.tokenizer)
    from slimkit.safe_load import INT8_FILE, INT8_SCHEME, save_int8

    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    path = scratch / INT8_FILE
    save_int8(quantized, path)  # tensors only: loading it never unpickles (slimkit.safe_load)
    variant = FileVariant("", parent.tokenizer, parent.model.config, {path.name: path}, "pytorch",
                          int8_format=INT8_SCHEME)
    variant.model = quantized
    return variant


def onnxruntime(parent: Variant, cfg: Any, ctx: RunContext, scratch: Path) -> Variant:
    require("onnxruntime", "onnx")
    source, out = parent.artifact, scratch / "model.onnx"
    if cfg.mode == "dynamic-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # with the embedding tables' Gathers, as quantize_dynamic does by default (and fake_quant)
        nodes = weight_matmuls(source) + weight_gathers(source) if cfg.weight_matmuls_only else None
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8,
                         per_channel=cfg.per_channel, reduce_range=cfg.seven_bit_weights,
                         nodes_to_quantize=nodes)
    elif cfg.mode == "static-int8":
        ort_static(parent, cfg, ctx, source, out, symmetric=False)
    else:
        import onnx
        from onnxconverter_common import float16

        onnx.save(float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True),
                  str(out))
    return FileVariant("", parent.tokenizer, parent.config, {out.name: out}, "onnxruntime")


def weight_matmuls(path: Path) -> list[str]:
    """MatMul nodes that multiply by a stored weight (found by structure, not by name)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    for node in graph.node:  # nodes are in topological order: a transposed weight is a weight
        if node.op_type in ("Transpose", "Cast", "Identity") and node.input[0] in constants:
            constants.update(node.output)
    return [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm")
            and any(i in constants for i in n.input)]


def weight_gathers(path: Path) -> list[str]:
    """Gather nodes that look rows up in a stored table (the embeddings)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    tables = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "Gather" and n.input[0] in tables]


def ort_static(parent: Variant, cfg: Any, ctx: RunContext, source: Path, out: Path,
                symmetric: bool, exclude: list[str] | None = None) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(parent, ctx, cfg.calibration_rows,
                                               fixed_length=method != CalibrationMethod.MinMax)

        def get_next(self):
            return next(self.batches, None)

    nodes = None if getattr(cfg, "weight_matmuls_only", None) is False else weight_matmuls(source)
    if nodes is not None and exclude:
        nodes = [n for n in nodes if n not in exclude]
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[getattr(cfg, "calibration", "minmax")]
    quantize_static(str(source), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    calibrate_method=method,
                    activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_quantize=nodes,
                    per_channel=getattr(cfg, "per_channel", False),
                    # 7-bit weights where the config asks (x86 without VNNI saturates on 8 bits);
                    # TensorRT's symmetric INT8 (symmetric=True) runs on GPUs: full range
                    reduce_range=getattr(cfg, "seven_bit_weights", False) and not symmetric,
                    nodes_to_exclude=exclude or [],
                    extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})


def openvino(parent: Variant, cfg: Any, ctx: RunContext, scratch: Path) -> Variant:
    from backends.openvino import cpu_has

    ov = require("openvino", "openvino")
    xml = scratch / "openvino_model.xml"
    options, measured_as = dict(parent.options), None
    if cfg.mode == "bf16":
        shutil.copy2(parent.artifact, xml)
        shutil.copy2(parent.artifact.with_suffix(".bin"), xml.with_suffix(".bin"))
        options["precision"] = "bf16"
        measured_as = None if cpu_has("BF16") else "f32"
        if measured_as:
            log.warning("this CPU has no BF16 units: OpenVINO runs the bf16 hint as FP32 here, "
                        "so the parity gate and metrics are FP32's; on a BF16 CPU it runs BF16")
    else:
        nncf = require("nncf", "openvino")
        model = ov.Core().read_model(str(parent.artifact))
        if cfg.mode == "dynamic-int8":
            model = nncf.compress_weights(model)
        else:
            batches = list(calibration_batches(parent, ctx, cfg.calibration_rows))
            model = nncf.quantize(model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches))
        ov.save_model(model, str(xml), compress_to_fp16=False)
    variant = FileVariant("", parent.tokenizer, parent.config,
                          {xml.name: xml, "openvino_model.bin": xml.with_suffix(".bin")},
                          "openvino", options=options)
    if measured_as:
        variant.extras["measured_as"] = measured_as
    return variant


# the quantization routine of each backend that has ``quantize_modes`` (backends/)
BUILDERS = {"pytorch": pytorch, "onnxruntime": onnxruntime, "openvino": openvino}
