"""ONNX / OpenVINO export and quantization on tiny models: parity gates, reload, bad paths."""

import subprocess
import sys

import pytest

import slimkit
from slimkit.run_lock import LOCK
from slimkit.runner import build_registry, execute, plan

from .conftest import ARCHITECTURES, TEACHER_STAGE, tiny_recipe

EXPORTS = TEACHER_STAGE + """  - kind: onnx
    name: onnx
    parent: teacher
    atol: 1.0e-4
  - kind: openvino
    name: openvino
    parent: teacher
    atol: 1.0e-4
"""


SENTENCES = ["the film was great", "a boring plot", "quite a lovely story", "poor acting"]


def teacher_says(tmp_path) -> list[str]:
    return slimkit.load(tmp_path / "runs" / "tiny" / "teacher").predict(SENTENCES)


def run(recipe):
    registry = build_registry()
    return {m["variant"]: m for m in execute(plan(recipe, registry), registry)}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_onnx_and_openvino_exports_match_pytorch(tmp_path, sentiment_files, architecture):
    made = run(tiny_recipe(tmp_path, *sentiment_files, architecture=architecture, stages=EXPORTS))
    teacher = made["teacher"]
    for name, backend in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        manifest = made[name]
        assert manifest["backend"] == backend
        assert manifest["parity"]["max_abs_diff"] <= 1e-4
        assert manifest["parity"]["argmax_agreement"] == 1.0
        assert manifest["metrics"]["accuracy"] == teacher["metrics"]["accuracy"]
        variant = slimkit.load(tmp_path / "runs" / "tiny" / name)
        assert variant.backend == backend
        assert variant.predict(SENTENCES) == teacher_says(tmp_path)
    if architecture == "bert":
        assert optimum_intel_says(tmp_path / "runs" / "tiny" / "openvino") == teacher_says(tmp_path)


def optimum_intel_says(folder) -> list[str]:
    """The OpenVINO folder is what optimum-intel's OVModelForSequenceClassification reads."""
    from optimum.intel import OVModelForSequenceClassification
    from transformers import AutoTokenizer

    model = OVModelForSequenceClassification.from_pretrained(folder)
    batch = AutoTokenizer.from_pretrained(folder)(SENTENCES, padding=True, return_tensors="pt")
    return [model.config.id2label[int(i)] for i in model(**batch).logits.argmax(-1)]


QUANTIZE = EXPORTS + """
  - kind: quantize
    name: torch-int8
    parent: teacher
    mode: dynamic-int8
  - kind: quantize
    name: torch-bf16
    parent: teacher
    mode: bf16
  - kind: quantize
    name: ort-int8
    parent: onnx
    mode: dynamic-int8
  - kind: quantize
    name: ort-static-int8
    parent: onnx
    mode: static-int8
    calibration_rows: 64
  - kind: quantize
    name: ort-fp16
    parent: onnx
    mode: fp16
  - kind: quantize
    name: ov-int8-weights
    parent: openvino
    mode: dynamic-int8
  - kind: quantize
    name: ov-int8
    parent: openvino
    mode: static-int8
    calibration_rows: 64
  - kind: quantize
    name: ov-bf16
    parent: openvino
    mode: bf16
"""


def test_every_quantization_path_is_gated_and_reloads(tmp_path, sentiment_files):
    made = run(tiny_recipe(tmp_path, *sentiment_files, stages=QUANTIZE))
    teacher = made["teacher"]["metrics"]["accuracy"]
    for name in ("torch-int8", "torch-bf16", "ort-int8", "ort-static-int8", "ort-fp16",
                 "ov-int8-weights", "ov-int8", "ov-bf16"):
        manifest = made[name]
        assert manifest["parity"]["argmax_agreement"] >= 0.9, name
        assert manifest["metrics"]["accuracy"] >= teacher - 0.05, name
        variant = slimkit.load(tmp_path / "runs" / "tiny" / name)
        assert variant.predict(SENTENCES) == teacher_says(tmp_path), name
    assert made["ort-int8"]["size_bytes"] < made["onnx"]["size_bytes"]
    assert made["ov-bf16"]["backend_options"]["precision"] == "bf16"


def test_a_tolerance_too_tight_fails_the_stage_and_writes_nothing(tmp_path, sentiment_files):
    stages = EXPORTS[: EXPORTS.index("  - kind: openvino")].replace("1.0e-4", "1.0e-12")
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=stages)
    out = subprocess.run([sys.executable, "-m", "slimkit", "-q", "run", str(recipe)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    assert f"{recipe}: stage onnx: onnx export: max |logit difference|" in out.stderr
    assert "exceeds the tolerance 1e-12 (raise the stage's atol" in out.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [LOCK, "teacher"]


def test_quantizing_for_the_wrong_backend_is_one_line(tmp_path, sentiment_files):
    stages = EXPORTS + """
  - kind: quantize
    parent: teacher
    mode: static-int8
"""
    with pytest.raises(slimkit.errors.SlimkitError, match="not available for a pytorch parent"):
        run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))


def test_missing_backend_names_the_extra(monkeypatch):
    from slimkit.errors import SlimkitError
    from slimkit.runtimes import require

    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` fail
    with pytest.raises(SlimkitError, match=r"openvino is not installed: install slimkit\[openvino\]"):
        require("openvino", "openvino")


def test_tensorrt_ready_int8_is_symmetric_qdq_with_sensitive_layers_in_float(tmp_path, sentiment_files):
    import json

    import onnx

    stages = EXPORTS + """
  - kind: tensorrt
    name: trt-int8
    parent: onnx
    calibration_rows: 64
  - kind: tensorrt
    name: trt-fp16
    parent: onnx
    precision: fp16
"""
    made = run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))
    int8 = made["trt-int8"]
    assert len(int8["tensorrt"]["kept_float"]) == 4 + 2  # four FFN outputs, pooler, classifier
    graph = onnx.load(str(tmp_path / "runs" / "tiny" / "trt-int8" / "model.onnx")).graph
    zero_points = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer
                   if "zero_point" in i.name}
    assert zero_points and all(z.dtype.name == "int8" and not z.any() for z in zero_points.values())
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert int8["metrics"]["accuracy"] >= made["onnx"]["metrics"]["accuracy"] - 0.05
    profiles = json.loads((tmp_path / "runs" / "tiny" / "trt-int8" / "tensorrt_profiles.json")
                          .read_text())
    assert profiles["input_ids"] == {"min": [1, 1], "opt": [1, 24], "max": [32, 24]}
    assert "--int8" in int8["tensorrt"]["trtexec"]
    assert made["trt-fp16"]["size_bytes"] < made["onnx"]["size_bytes"]


def test_neural_compressor_engine_is_gated_and_rebuilds_on_load(tmp_path, sentiment_files):
    stages = """
  - kind: finetune
    name: teacher
    epochs: 4
    learning_rate: 3.0e-3
    batch_size: 16
  - kind: quantize
    name: inc-int8
    mode: dynamic-int8
    engine: inc
    calibration_rows: 32
"""
    made = run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))
    inc = made["inc-int8"]
    assert inc["backend"] == "inc" and inc["quantization"]["engine"] == "inc"
    assert inc["parity"]["argmax_agreement"] >= 0.9
    assert inc["metrics"]["accuracy"] >= made["teacher"]["metrics"]["accuracy"] - 0.05
    variant = slimkit.load(tmp_path / "runs" / "tiny" / "inc-int8")
    assert variant.predict(SENTENCES) == teacher_says(tmp_path)
