"""Peer paths: optimum-intel's own OpenVINO INT8 flow on the tiny teacher, gated like our stages."""

from __future__ import annotations

import pytest

import slimkit
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import TEACHER_STAGE, tiny_recipe

pytest.importorskip("optimum.intel")

STAGES = TEACHER_STAGE + """  - kind: peer
    name: peer-ov-int8
    path: optimum-intel-int8
    calibration_rows: 64
"""


def test_optimum_intel_int8_peer_is_a_gated_openvino_variant(tmp_path, sentiment_files):
    registry = build_registry()
    manifests = {m.variant: m.to_json() for m in execute(
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=STAGES), registry), registry)}
    peer = manifests["peer-ov-int8"]
    assert peer["backend"] == "openvino" and peer["peer"]["path"] == "optimum-intel-int8"
    assert peer["parity"]["argmax_agreement"] >= 0.9
    assert abs(peer["metrics"]["accuracy"] - manifests["teacher"]["metrics"]["accuracy"]) <= 0.05
    variant = slimkit.load(tmp_path / "runs" / "tiny" / "peer-ov-int8")
    assert variant.predict(["the film was great", "the film was awful"]) == ["1", "0"]
    from optimum.intel import OVModelForSequenceClassification

    model = OVModelForSequenceClassification.from_pretrained(tmp_path / "runs" / "tiny" / "peer-ov-int8")
    text = (tmp_path / "runs" / "tiny" / "peer-ov-int8" / "openvino_model.xml").read_text()
    assert "FakeQuantize" in text or "fake_quantize" in text.lower()  # activations quantized too
    assert model.config.num_labels == 2
