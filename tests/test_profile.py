"""``slimkit profile``: per-operator time on each backend's own profiler, FLOPs and rates."""

from __future__ import annotations

import json

import pytest

from benchmarks.profile import kind_of, summarize
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import TEACHER_STAGE, sentiment_rows, tiny_recipe, write_tsv
from .test_bench import slimkit_cli

STAGES = TEACHER_STAGE + """  - kind: onnx
    name: onnx
  - kind: quantize
    name: onnx-int8
    mode: dynamic-int8
  - kind: openvino
    name: openvino
    parent: teacher
"""


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("profile")
    train = write_tsv(tmp / "train.tsv", sentiment_rows(160, seed=1))
    dev = write_tsv(tmp / "dev.tsv", sentiment_rows(40, seed=2))
    registry = build_registry()
    execute(plan(tiny_recipe(tmp, train, dev, stages=STAGES), registry), registry)
    run = tmp / "runs" / "tiny"
    done = slimkit_cli("profile", str(run), "--variants", "teacher", "onnx-int8", "openvino",
                       "--seq-len", "16", "--calls", "5", "--warmup", "2", "--out", str(tmp / "p"))
    assert done.returncode == 0, done.stderr
    return json.loads((tmp / "p" / "profile.json").read_text()), (tmp / "p" / "profile.md"), run


def test_every_backend_reports_its_operators_and_flops(profiled):
    result, markdown, _ = profiled
    rows = {v["variant"]: v for v in result["variants"]}
    assert [rows[n]["backend"] for n in ("teacher", "onnx-int8", "openvino")] == \
        ["pytorch", "onnxruntime", "openvino"]
    for row in rows.values():
        assert row["wall_ms"] > 0 and row["in_ops_ms"] > 0
        assert row["kinds"]["matmul"] > 0, row["ops"][:5]
        assert abs(sum(row["kinds"].values()) - row["in_ops_ms"]) < 1e-6
    # the exports are the teacher's computation: FLOPs come from their PyTorch ancestor
    assert rows["teacher"]["flops"] > 0
    assert rows["onnx-int8"]["flops"] == rows["openvino"]["flops"] == rows["teacher"]["flops"]
    assert any("MatMulInteger" in o["op"] or "DynamicQuantize" in o["op"]
               for o in rows["onnx-int8"]["ops"])
    assert result["matmul_gflops"]["square_1024"] > 0 and result["ffn_shape"] == [16, 32, 64]
    text = markdown.read_text()
    assert result["command"].startswith("slimkit -q profile ") and "Reproduce: `slimkit" in text
    assert "| teacher | pytorch |" in text and "## onnx-int8 (onnxruntime): top operators" in text


def test_an_unknown_variant_is_one_line(profiled):
    run = profiled[2]
    done = slimkit_cli("profile", str(run), "--variants", "nope")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--variants: nope is not a finished variant" in done.stderr
    assert "use some of: onnx, onnx-int8, openvino, teacher" in done.stderr
    done = slimkit_cli("profile", str(run), "--variants", "teacher", "--batch-size", "0")
    assert done.returncode == 2 and "slimkit profile: --batch-size: 0 is not a count" in done.stderr
    done = slimkit_cli("profile", str(run), "--variants", "teacher", "--seq-len", "100000")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--seq-len: 100000 is longer than teacher's" in done.stderr


@pytest.mark.parametrize("op, kind", [("aten::addmm", "matmul"), ("MatMulInteger", "matmul"),
                                      ("DynamicQuantizeLinear", "quantize"),
                                      ("Softmax", "attention"), ("aten::layer_norm", "norm"),
                                      ("FullyConnected (brgemm_avx2_FP32)", "matmul"),
                                      ("Gelu", "activation"), ("aten::view", "other")])
def test_operator_kinds(op, kind):
    assert kind_of(op) == kind


def test_overhead_is_what_no_operator_accounts_for():
    row = summarize("v", "pytorch", 10.0, {"aten::addmm": (40.0, 20), "aten::gelu": (10.0, 10)},
                    calls=10, flops=2e9)
    assert row["in_ops_ms"] == 5.0 and row["overhead_ms"] == 5.0
    assert row["kinds"] == {"matmul": 4.0, "activation": 1.0}
    assert row["gflops_per_s"] == pytest.approx(200.0)
    assert row["ops"][0] == {"op": "aten::addmm", "kind": "matmul", "ms": 4.0, "calls": 2.0}
