"""Quantization-aware training: while a stage trains, its Linear layers compute with ONNX Runtime's
dynamic INT8 rounding (torch.ao FakeQuantize), so what training saw is what the exported INT8 graph
does; the saved model is plain float and goes through the same export, gate and loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compress.fake_quant import FakeQuantConfig, attach, detach
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import TEACHER_STAGE, seed_teacher, student_stage, tiny_recipe


def test_attach_rounds_and_trains_through_the_rounding_and_detach_restores_a_plain_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.randn(5, 8)
    plain = model(x).detach()
    assert attach(model, FakeQuantConfig()) == 2
    rounded = model(x)
    assert 0 < float((rounded - plain).abs().max()) < 0.05
    # the weight the layer uses holds at most 255 levels per output channel
    weight = model[0].weight.detach()
    assert all(len(torch.unique(row)) <= 255 for row in weight)
    rounded.sum().backward()  # straight-through: the float originals get gradients
    assert model[0].parametrizations.weight.original.grad.abs().sum() > 0
    detach(model)
    assert sorted(model.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert torch.equal(model(x), plain)


STAGES = TEACHER_STAGE + student_stage("fake_quant: {per_channel: true}") + """  - kind: onnx
    name: student-onnx
  - kind: quantize
    name: student-int8
    mode: dynamic-int8
    per_channel: true
    weight_matmuls_only: true
"""


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory, teacher_for):
    from .conftest import write_sentiment_files

    tmp = tmp_path_factory.mktemp("qat")
    recipe = tiny_recipe(tmp, *write_sentiment_files(tmp), stages=STAGES)
    seed_teacher(tmp, teacher_for("bert"))
    registry = build_registry()
    planned = plan(recipe, registry)
    return {m.variant: m for m in execute(planned, registry)}, tmp / "runs" / "tiny", planned


def test_the_int8_graph_computes_what_training_saw(qat_run):
    import slimkit
    from slimkit.inference import batched_logits

    made, run_dir, planned = qat_run
    rows = planned.splits.eval
    student = slimkit.load(run_dir / "student")
    int8 = slimkit.load(run_dir / "student-int8")
    float_logits = batched_logits(student.runtime.logits, student.tokenizer, rows, 24, progress=False)
    int8_logits = batched_logits(int8.runtime.logits, int8.tokenizer, rows, 24, progress=False)
    attach(student.model, FakeQuantConfig(per_channel=True))
    seen = batched_logits(student.runtime.logits, student.tokenizer, rows, 24, progress=False)
    # the fake-quantized forward (training's view) is far closer to the INT8 graph than the float
    # model is: the rounding was modelled, not only hoped small
    # (measured here: mean 1.4e-6 against 3e-5: ONNX Runtime's own scheme, not an approximation)
    assert np.abs(seen - int8_logits).mean() < 0.5 * np.abs(float_logits - int8_logits).mean()
    assert np.abs(seen - int8_logits).max() < 1e-3
    assert (seen.argmax(1) == int8_logits.argmax(1)).mean() >= (float_logits.argmax(1)
                                                                == int8_logits.argmax(1)).mean()
    assert made["student"].metrics["accuracy"] >= 0.85
    assert made["student-int8"].parity.argmax_agreement >= 0.9


def test_the_saved_student_is_plain_float_and_scored_as_saved(qat_run):
    made, run_dir, _ = qat_run
    from safetensors import safe_open

    with safe_open(str(run_dir / "student" / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert not [n for n in names if "parametrizations" in n or "fake_quant" in n]
    record = made["student"].training
    assert record["history"] and made["student"].stage_config["fake_quant"]["per_channel"] is True


def test_an_int8_scheme_slimkit_cannot_export_fails_validation_in_one_line(tmp_path, sentiment_files):
    stages = STAGES.replace("fake_quant: {per_channel: true}", "fake_quant: {scheme: openvino-int8}")
    with pytest.raises(RecipeError) as caught:
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
    text = str(caught.value)
    assert "stages[1].fake_quant.scheme" in text and "\n" not in text
