"""ONNX / OpenVINO export and quantization on tiny models: parity gates, reload, bad paths."""

import subprocess
import sys

import pytest

import slimkit
from slimkit.planning import plan
from slimkit.run_lock import LOCK
from slimkit.runner import build_registry, execute

from .conftest import ARCHITECTURES, TEACHER_STAGE, seed_teacher, teacher_stage, tiny_recipe

EXPORTS = TEACHER_STAGE + """  - kind: onnx
    name: onnx-eager
    parent: teacher
    attention: eager
    atol: 1.0e-4
  - kind: onnx
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
    return {m.variant: m.to_json() for m in execute(plan(recipe, registry), registry)}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_onnx_and_openvino_exports_match_pytorch(tmp_path, sentiment_files, architecture,
                                                 teacher_for):
    if TEACHER_STAGE == teacher_stage(architecture):  # the same teacher: trained once
        seed_teacher(tmp_path, teacher_for(architecture))
    made = run(tiny_recipe(tmp_path, *sentiment_files, architecture=architecture, stages=EXPORTS))
    teacher = made["teacher"]
    for name, backend in (("onnx", "onnxruntime"), ("onnx-eager", "onnxruntime"),
                          ("openvino", "openvino")):
        manifest = made[name]
        assert manifest["backend"] == backend
        assert manifest["parity"]["max_abs_diff"] <= 1e-4
        assert manifest["parity"]["argmax_agreement"] == 1.0
        assert manifest["metrics"]["accuracy"] == teacher["metrics"]["accuracy"]
        variant = slimkit.load(tmp_path / "runs" / "tiny" / name)
        assert variant.backend == backend
        assert variant.predict(SENTENCES) == teacher_says(tmp_path)
    assert_eager_export_has_no_nan_guard(tmp_path / "runs" / "tiny", architecture)
    if architecture == "bert":
        assert optimum_intel_says(tmp_path / "runs" / "tiny" / "openvino") == teacher_says(tmp_path)


def ops(folder) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(folder / "model.onnx").graph.node}


def assert_eager_export_has_no_nan_guard(run_dir, architecture: str) -> None:
    """`attention: eager` traces MatMul + Softmax; the model's own sdpa traces a guard against fully
    masked rows. onnx-eager ran first: the teacher must have been given back as it was."""
    assert "IsNaN" not in ops(run_dir / "onnx-eager")
    if architecture != "deberta-v2":  # its attention is its own, with no sdpa path
        assert "IsNaN" in ops(run_dir / "onnx")


def optimum_intel_says(folder) -> list[str]:
    """The OpenVINO folder is what optimum-intel's OVModelForSequenceClassification reads."""
    from optimum.intel import OVModelForSequenceClassification
    from transformers import AutoTokenizer

    model = OVModelForSequenceClassification.from_pretrained(folder)
    batch = AutoTokenizer.from_pretrained(folder)(SENTENCES, padding=True, return_tensors="pt")
    return [model.config.id2label[int(i)] for i in model(**batch).logits.argmax(-1)]


def test_a_tolerance_too_tight_is_one_line_from_the_cli(tmp_path, sentiment_files, with_teacher):
    """(tests/test_quantize.py runs every gated stage past its tolerance in-process.)"""
    stages = EXPORTS[: EXPORTS.index("  - kind: openvino")].replace("1.0e-4", "1.0e-12")
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=stages)
    out = subprocess.run([sys.executable, "-m", "slimkit", "-q", "run", str(recipe)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    assert f"{recipe}: stage onnx-eager: onnx export: max |logit difference|" in out.stderr
    assert "exceeds the tolerance 1e-12 (raise the stage's atol" in out.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [LOCK, "teacher"]


def test_quantizing_for_the_wrong_backend_is_one_line(tmp_path, sentiment_files, with_teacher):
    stages = TEACHER_STAGE + """  - kind: quantize
    parent: teacher
    mode: static-int8
"""
    with pytest.raises(slimkit.errors.SlimkitError, match="not available for a pytorch parent"):
        run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))


def test_missing_backend_names_the_extra(monkeypatch):
    from slimkit.errors import SlimkitError
    from slimkit.runtime import require

    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` fail
    with pytest.raises(SlimkitError, match=r"openvino is not installed: install slimkit\[openvino\]"):
        require("openvino", "openvino")
