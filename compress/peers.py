"""``kind: peer``: what a user would do without slimkit, made with the other library's own API and
defaults, so the benchmark measures slimkit's variants against it on the same rows and machine.

- ``optimum-intel-int8``: optimum-intel exports the PyTorch folder to OpenVINO
  (``OVModelForSequenceClassification.from_pretrained(export=True)``) and ``OVQuantizer`` applies
  NNCF's full static INT8 (``OVQuantizationConfig``: transformer model type, its SmoothQuant and
  bias-correction defaults) on ``calibration_rows`` training rows; run with OpenVINO's default
  inference precision, as optimum-intel runs it.

PyTorch's ``quantize_dynamic`` and ONNX Runtime's ``quantize_dynamic`` on the ``torch.onnx``
export are already plain library calls (``kind: quantize``, ``mode: dynamic-int8`` on a PyTorch or
an ONNX parent); list those variants under ``benchmark.peers``. Optimum's ONNX Runtime path
(optimum-onnx) cannot be installed beside transformers 5 (it requires transformers < 4.58).
"""

from __future__ import annotations

import random
from importlib import metadata
from typing import Literal

from pydantic import Field, PositiveInt

from backends.openvino import OpenVinoRuntime
from backends.registry import runtime_for
from slimkit.parity import ToleranceConfig, gate
from slimkit.runtime import require
from slimkit.stage import FileVariant, RunContext, Stage, Variant, require_pytorch_parent

IR_FILES = ("openvino_model.xml", "openvino_model.bin")


class PeerConfig(ToleranceConfig):
    """A peer path built with another library's defaults (see compress/peers.py)."""

    kind: Literal["peer"] = "peer"
    path: Literal["optimum-intel-int8"] = "optimum-intel-int8"
    calibration_rows: PositiveInt = Field(300, description="training rows for calibration")
    atol: float = Field(3.0, gt=0, description="largest |logit difference| allowed vs the parent")
    min_agreement: float = Field(0.9, ge=0, le=1)


class Peer(Stage[PeerConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        require("optimum.intel", "openvino")
        require_pytorch_parent(parent, "peer")
        out = ctx.scratch("peer")
        source = parent.path or ctx.scratch("peer-source")
        if parent.path is None:
            parent.save(source)
        self._optimum_intel_int8(parent, ctx, source, out)
        runtime = OpenVinoRuntime(out / IR_FILES[0], precision="default")
        parity = gate(runtime_for(parent), runtime, parent.tokenizer, ctx, self.config,
                      f"peer {self.config.path}")
        return FileVariant(self.config.variant_name, parent.tokenizer, parent.model.config,
                           {name: out / name for name in IR_FILES}, "openvino",
                           options={"precision": "default"}, precision="int8 static", parity=parity.to_json(),
                           peer={"path": self.config.path,
                                 "library": f"optimum-intel {metadata.version('optimum-intel')}"})

    def _optimum_intel_int8(self, parent: Variant, ctx: RunContext, source, out) -> None:
        from datasets import Dataset
        from optimum.intel import (
            OVConfig,
            OVModelForSequenceClassification,
            OVQuantizationConfig,
            OVQuantizer,
        )

        rng = random.Random(ctx.seed)
        rows = ctx.train.subset(rng.sample(range(len(ctx.train)),
                                           min(self.config.calibration_rows, len(ctx.train))))
        encoded = parent.tokenizer(rows.texts, rows.text_pairs, truncation=True,
                                   max_length=ctx.recipe.data.max_length)
        calibration = Dataset.from_dict(dict(encoded))
        model = OVModelForSequenceClassification.from_pretrained(str(source), export=True, compile=False)
        config = OVConfig(quantization_config=OVQuantizationConfig(num_samples=len(calibration)))
        OVQuantizer.from_pretrained(model).quantize(calibration_dataset=calibration, ov_config=config,
                                                    save_directory=str(out), batch_size=1)
