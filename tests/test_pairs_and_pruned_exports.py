"""End to end on shapes the single-sentence BERT runs miss: a sentence-pair task (MRPC-style) through
distillation, export and quantization, and head- plus FFN-pruned (custom-code) variants exported to
ONNX and OpenVINO and reloaded."""

from __future__ import annotations

import random
from pathlib import Path

import slimkit
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import FILLER, NEGATIVE, POSITIVE, TEACHER_STAGE, served_labels, tiny_recipe

PAIR_STAGES = TEACHER_STAGE + """  - kind: distill
    name: student
    layers: every_other
    epochs: 4
    learning_rate: 3.0e-3
    batch_size: 16
  - kind: onnx
    name: student-onnx
  - kind: quantize
    name: student-onnx-int8
    mode: dynamic-int8
  - kind: openvino
    name: student-openvino
    parent: student
"""


def pair_rows(count: int, seed: int) -> list[tuple[str, str, str]]:
    """The label is the second sentence's sentiment; the first holds an unrelated one, so a
    pipeline that drops the pair (or swaps the two) scores at chance."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        first = rng.sample(FILLER, 3) + [rng.choice(POSITIVE + NEGATIVE)]
        label = rng.randint(0, 1)
        second = rng.sample(FILLER, 3) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(first)
        rng.shuffle(second)
        rows.append((" ".join(first), " ".join(second), str(label)))
    return rows


def pair_recipe(tmp_path: Path, stages: str) -> Path:
    for name, count, seed in (("train", 400, 11), ("dev", 80, 12)):
        text = "".join(f"{a}\t{b}\t{y}\n" for a, b, y in pair_rows(count, seed))
        (tmp_path / f"{name}.tsv").write_text("sentence1\tsentence2\tlabel\n" + text, encoding="utf-8")
    return tiny_recipe(tmp_path, tmp_path / "train.tsv", tmp_path / "dev.tsv", stages=stages,
                       extra_data="\n  text: sentence1\n  text_pair: sentence2")


def run(recipe: Path) -> dict[str, dict]:
    registry = build_registry()
    return {m.variant: m.to_json() for m in execute(plan(recipe, registry), registry)}


def test_a_sentence_pair_task_runs_end_to_end(tmp_path):
    made = run(pair_recipe(tmp_path, PAIR_STAGES))
    for name in ("teacher", "student", "student-onnx", "student-onnx-int8", "student-openvino"):
        assert made[name]["metrics"]["accuracy"] >= 0.9, (name, made[name]["metrics"])
    assert made["student-onnx"]["parity"]["argmax_agreement"] == 1.0
    onnx = slimkit.load(tmp_path / "runs" / "tiny" / "student-onnx")
    # the same first sentence, opposite second ones: only the pair decides
    first = ["the movie was good really", "the movie was good really"]
    assert onnx.predict(first, ["a plot quite superb", "a plot quite dreadful"]) == ["1", "0"]
    # served over HTTP (a pair model: text_pairs), INT8 too
    for name in ("student-onnx", "student-onnx-int8", "student-openvino"):
        folder = tmp_path / "runs" / "tiny" / name
        assert served_labels(folder, first, ["a plot quite superb", "a plot quite dreadful"]) \
            == slimkit.load(folder).predict(first, ["a plot quite superb", "a plot quite dreadful"])


PRUNED_STAGES = TEACHER_STAGE + """  - kind: prune_heads
    name: heads
    heads_per_layer: 2
  - kind: prune_ffn
    name: pruned
    fraction: 0.5
  - kind: distill
    name: recovered
    teacher: teacher
    gamma: 0
    epochs: 2
    learning_rate: 1.0e-3
    batch_size: 16
  - kind: onnx
    name: pruned-onnx
    atol: 1.0e-4
  - kind: onnx
    name: pruned-onnx-eager
    parent: recovered
    attention: eager
    atol: 1.0e-4
  - kind: openvino
    name: pruned-openvino
    parent: recovered
    atol: 1.0e-4
  - kind: quantize
    name: pruned-openvino-int8
    mode: static-int8
    calibration_rows: 64
"""


def test_head_and_ffn_pruned_variants_export_to_onnx_and_openvino(tmp_path, sentiment_files,
                                                                  with_teacher):
    made = run(tiny_recipe(tmp_path, *sentiment_files, stages=PRUNED_STAGES))
    recovered = made["recovered"]
    assert recovered["custom_code"]
    assert recovered["parameters"] < made["teacher"]["parameters"]
    for name in ("pruned-onnx", "pruned-onnx-eager", "pruned-openvino"):
        assert made[name]["parity"]["max_abs_diff"] <= 1e-4, name
        assert made[name]["metrics"]["accuracy"] == recovered["metrics"]["accuracy"], name
    assert made["pruned-openvino-int8"]["metrics"]["accuracy"] >= recovered["metrics"]["accuracy"] - 0.05
    sentences = ["the film was great", "a boring plot", "quite a lovely story", "poor acting"]
    says = slimkit.load(tmp_path / "runs" / "tiny" / "recovered").predict(sentences)
    for name in ("pruned-onnx", "pruned-onnx-eager", "pruned-openvino", "pruned-openvino-int8"):
        assert slimkit.load(tmp_path / "runs" / "tiny" / name).predict(sentences) == says, name
    # slimkit serve answers the same for the pruned PyTorch model and its INT8 IR
    for name in ("recovered", "pruned-openvino-int8"):
        assert served_labels(tmp_path / "runs" / "tiny" / name, sentences) == says, name
    # the exported graph carries the pruned widths: 2 of 4 heads (16 wide), 32 of 64 FFN neurons
    import onnx

    graph = onnx.load(str(tmp_path / "runs" / "tiny" / "pruned-onnx" / "model.onnx")).graph
    shapes = {tuple(i.dims) for i in graph.initializer}
    assert (32, 16) in shapes and (32, 32) in shapes and (32, 64) not in shapes
