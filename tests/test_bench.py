"""The benchmark harness on a tiny run (real subprocess measurements), its report, and the CI gate:
an unchanged report passes, planted regressions fail, bad reports are one line."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import compare, load_tolerances
from benchmarks.paired import decode
from benchmarks.plot import frontier, label_offsets
from benchmarks.report import SCHEMA, load_report
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry, execute
from slimkit.settings import Tolerances

from .conftest import REPO, TEACHER_STAGE, tiny_recipe, write_sentiment_files

STAGES = TEACHER_STAGE + """  - kind: onnx
    name: onnx
  - kind: quantize
    name: onnx-int8
    mode: dynamic-int8
benchmark:
  variants: [onnx-int8]
  backends: [pytorch, onnxruntime, openvino]
  devices: [cpu]
  batch_sizes: [1, 4]
  seq_lens: [16]
  warmup: 1
  rounds: 2
  per_round: 3
search:
  seq_len: 16
"""
CPU_ROWS = {"teacher/pytorch/cpu", "teacher/onnxruntime/cpu", "teacher/openvino/cpu",
            "onnx-int8/onnxruntime/cpu", "onnx-int8/openvino/cpu"}


def slimkit_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slimkit", "-q", *args], capture_output=True,
                          text=True, cwd=REPO, env=env and {**os.environ, **env})


@pytest.fixture(scope="module")
def benched(tmp_path_factory, trained_teacher) -> Path:
    """A tiny run whose recipe's benchmark block measured 5 rows (teacher on 3 backends)."""
    tmp = tmp_path_factory.mktemp("bench")
    shutil.copytree(trained_teacher, tmp / "runs" / "tiny" / "teacher")
    train, dev = write_sentiment_files(tmp)
    registry = build_registry()
    execute(plan(tiny_recipe(tmp, train, dev, stages=STAGES), registry), registry)
    return tmp / "runs" / "tiny"


@pytest.fixture
def report(benched) -> dict:
    return load_report(benched / "report.json")


def test_every_variant_backend_and_device_is_measured_or_skipped_with_a_reason(report):
    assert report["schema"] == SCHEMA
    ok = {r["id"] for r in report["rows"] if r["status"] == "ok"}
    assert ok == CPU_ROWS, [(r["id"], r.get("reason")) for r in report["rows"]]
    # the recipe lists its devices, so a CUDA machine measures the same rows (see test_bench_targets)
    assert {s["device"] for s in report["skipped"]} <= {"cpu"}
    machine = report["machine"]
    assert machine["logical_cores"] >= 1 and "torch" in machine["versions"]
    assert report["threads"] >= 1


def test_rows_hold_quality_latency_memory_and_size(report):
    rows = {r["id"]: r for r in report["rows"]}
    reference = rows["teacher/pytorch/cpu"]
    assert reference["quality"]["accuracy"] > 0.8 and reference["quality"]["agreement"] == 1.0
    # an FP32 export predicts what PyTorch predicts
    assert rows["teacher/onnxruntime/cpu"]["quality"]["agreement"] == 1.0
    # per-row predictions and the rows' labels, one character each, for compare's paired test
    labels = decode(report["eval_rows"]["labels"])
    assert len(labels) == report["eval_rows"]["rows"] and report["eval_rows"]["classes"] == 2
    for row in rows.values():
        right = decode(row["predictions"]) == labels
        assert right.mean() == pytest.approx(row["quality"]["accuracy"])
    for row in rows.values():
        assert [(x["batch_size"], x["seq_len"]) for x in row["latency"]] == [(1, 16), (4, 16)]
        for x in row["latency"]:
            assert x["iterations"] == 6 and 0 < x["p50_ms"] <= x["p90_ms"] <= x["p99_ms"]
            assert x["throughput"] == pytest.approx(x["batch_size"] / x["p50_ms"] * 1e3)
            # ratios are measured, so only their arithmetic is asserted: timing noise may put
            # any one round's ratio on either side of the pooled ratio
            assert 0 < x["round_ratio_min"] <= x["round_ratio_p50"] <= x["round_ratio_max"]
            assert x["p50_ratio"] == pytest.approx(x["p50_ms"] / x["reference_p50_ms"])
            assert x["p50_calibrated"] == pytest.approx(x["p50_ms"] / x["calibration_ms"])
        assert row["peak_rss_mb"] > row["rss_before_load_mb"] > 0
        assert row["size_bytes"] > 0
    assert all(x["p50_ratio"] == x["round_ratio_p50"] == 1.0 for x in reference["latency"])
    assert rows["onnx-int8/onnxruntime/cpu"]["size_bytes"] < rows["teacher/onnxruntime/cpu"]["size_bytes"]


def test_report_files_and_the_best_pick(benched, report):
    text = (benched / "report.md").read_text()
    main_table = text.split("\n\n")[2]  # title, machine line, then the rows
    assert main_table.count("\n| ") + 1 == 1 + len(CPU_ROWS)  # header + one row each
    best = report["best"]["cpu"]
    assert best["id"] in CPU_ROWS and f"| **{best['id'].split('/')[0]}** |" in text
    assert (benched / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert report["command"].startswith("slimkit run ") and report["command"].endswith("recipe.yaml")
    assert f"Reproduce: `{report['command']}`." in text


def test_the_search_block_publishes_the_fastest_deployable_variant(benched, report):
    result = report["search"]
    assert result["considered"] == ["teacher/pytorch/cpu", "onnx-int8/onnxruntime/cpu"]
    chosen = result["pick"]
    assert chosen is not None and chosen["id"] in result["within_budget"]
    manifest = json.loads((benched / "best" / "manifest.json").read_text())
    assert manifest["variant"] == chosen["variant"]
    assert json.loads((benched / "best" / "best.json").read_text())["pick"] == chosen
    import slimkit

    assert slimkit.load(benched / "best").predict(["the film was great"]) == ["1"]


def test_slimkit_report_rebuilds_markdown_and_plot_from_json(benched, tmp_path):
    for name in ("report.json",):
        shutil.copy(benched / name, tmp_path / name)
    out = slimkit_cli("report", str(tmp_path / "report.json"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report.md").read_text() == (benched / "report.md").read_text()
    assert (tmp_path / "pareto.png").is_file()


def test_slimkit_report_on_a_published_copy_writes_that_copys_names(benched, tmp_path):
    shutil.copy(benched / "report.json", tmp_path / "tiny.json")
    out = slimkit_cli("report", str(tmp_path / "tiny.json"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tiny-training.png", "tiny.json", "tiny.md", "tiny.png"]
    assert "`tiny-training.png` beside this file" in (tmp_path / "tiny.md").read_text()


def test_a_finished_benchmark_is_not_redone(benched):
    before = (benched / "report.json").stat().st_mtime_ns
    registry = build_registry()
    recipe = benched.parents[1] / "recipe.yaml"
    execute(plan(recipe, registry), registry)
    assert (benched / "report.json").stat().st_mtime_ns == before


def _rows(report: dict) -> dict:
    return {r["id"]: r for r in report["rows"]}


def test_compare_passes_an_unchanged_report(report):
    checks = compare(report, copy.deepcopy(report), Tolerances())
    assert checks and not any(c.failed for c in checks)


def worse(report: dict, row_id: str, count: int) -> dict:
    """A copy of the report where ``count`` rows ``row_id`` got right are now wrong."""
    from benchmarks.paired import encode

    new = copy.deepcopy(report)
    row, labels = _rows(new)[row_id], decode(report["eval_rows"]["labels"])
    predictions = decode(row["predictions"])
    for i in [i for i in range(len(labels)) if predictions[i] == labels[i]][:count]:
        predictions[i] = 1 - predictions[i]
    row["predictions"] = encode(predictions.tolist())
    row["quality"]["accuracy"] = float((predictions == labels).mean())
    return new


def test_compare_catches_a_real_accuracy_drop_and_judges_a_small_one_by_its_odds(report):
    row_id, rows = "onnx-int8/onnxruntime/cpu", report["eval_rows"]["rows"]
    failed = [c for c in compare(worse(report, row_id, 8), report, Tolerances()) if c.failed]
    assert [(c.row, c.metric) for c in failed] == [(row_id, "accuracy")]  # 8 rows: p = 1/256
    # 2 of the 80 eval rows (2.5 pt): past the 1-pt limit, but chance explains it (p = 1/4)
    small = worse(report, row_id, 2)
    assert [c for c in compare(small, report, Tolerances()) if c.failed] == []
    points = [c for c in compare(small, report, Tolerances(significance=None)) if c.failed]
    assert [(c.row, c.metric) for c in points] == [(row_id, "accuracy")] and rows == 80


def test_compare_catches_a_quarter_latency_rise_but_not_a_small_one(report):
    new = copy.deepcopy(report)
    for x in _rows(new)["teacher/openvino/cpu"]["latency"]:  # a real slow-down: every shape
        x["round_ratio_p50"] *= 1.25
    for x in _rows(new)["onnx-int8/openvino/cpu"]["latency"]:  # within the noise seen between runs
        x["round_ratio_p50"] *= 1.10
    one_shape = _rows(new)["onnx-int8/onnxruntime/cpu"]["latency"]
    one_shape[0]["round_ratio_p50"] *= 1.40  # one shape much slower, the other faster: mean +9 %
    one_shape[1]["round_ratio_p50"] *= 0.85
    failed = [(c.row, c.metric) for c in compare(new, report, Tolerances()) if c.failed]
    assert failed == [("teacher/openvino/cpu", "round_ratio_p50 geomean of 2 shape(s)"),
                      ("onnx-int8/onnxruntime/cpu", "b1/s16 round_ratio_p50")]


def test_compare_fails_a_row_that_disappeared_and_accepts_a_new_one(report):
    new = copy.deepcopy(report)
    gone = new["rows"].pop()
    extra = copy.deepcopy(new["rows"][0]) | {"id": "extra/pytorch/cpu", "variant": "extra"}
    new["rows"].append(extra)
    checks = compare(new, report, Tolerances())
    assert [(c.row, c.change) for c in checks if c.failed] == [(gone["id"], "absent")]
    assert any(c.row == "extra/pytorch/cpu" and not c.failed for c in checks)


def test_compare_cli_exit_codes_and_table(benched, report, tmp_path):
    slow = copy.deepcopy(report)
    for x in _rows(slow)["onnx-int8/onnxruntime/cpu"]["latency"]:
        x["round_ratio_p50"] *= 1.25
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    base = str(benched / "report.json")
    assert slimkit_cli("compare", base, base).returncode == 0
    out = slimkit_cli("compare", str(tmp_path / "slow.json"), base)
    assert out.returncode == 1
    assert "| onnx-int8/onnxruntime/cpu | round_ratio_p50 geomean of 2 shape(s) | " in out.stdout
    assert "FAIL: 1 of" in out.stdout
    # a looser limit, by flag or by file, lets the same change through
    assert slimkit_cli("compare", str(tmp_path / "slow.json"), base, "--latency", "0.3").returncode == 0
    (tmp_path / "tol.yaml").write_text("latency: 0.3\naccuracy: 0.5\n")
    out = slimkit_cli("compare", str(tmp_path / "slow.json"), base, "--tolerances",
                      str(tmp_path / "tol.yaml"))
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"schema": "other/9", "rows": []}', "schema is 'other/9'"),
    ('[1, 2]', "schema is 'list'"),
])
def test_malformed_reports_are_one_line(benched, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = slimkit_cli("compare", str(bad), str(benched / "report.json"))
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_mismatched_reports_and_bad_tolerances_are_one_line(benched, report, tmp_path):
    other = copy.deepcopy(report) | {"reference": "student"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    out = slimkit_cli("compare", str(tmp_path / "other.json"), str(benched / "report.json"))
    assert out.returncode == 2 and "different references" in out.stderr
    (tmp_path / "tol.yaml").write_text("latncy: 0.2\n")
    with pytest.raises(RecipeError, match="did you mean 'latency'"):
        load_tolerances(tmp_path / "tol.yaml")
    assert slimkit_cli("compare", str(tmp_path / "missing.json"), str(tmp_path / "x")).returncode == 2


def test_labels_of_coinciding_points_get_separate_slots():
    points = [(0.30, 88.65), (0.30, 88.65), (0.31, 88.64), (1.0, 89.5)]
    labels = ["student / openvino", "student / onnxruntime", "student-openvino / openvino", "t"]
    offsets = label_offsets(points, labels)
    assert len(set(offsets[:3])) == 3 and offsets[3] == 0.0


def test_frontier_keeps_only_points_nothing_beats():
    points = [(1.0, 90.0), (0.5, 89.0), (0.6, 88.0), (0.2, 80.0), (0.3, 85.0), (2.0, 90.5)]
    assert frontier(points) == [(0.2, 80.0), (0.3, 85.0), (0.5, 89.0), (1.0, 90.0), (2.0, 90.5)]


def test_benchmark_block_is_validated_with_the_recipe(tmp_path, sentiment_files):
    registry = build_registry()
    for block, field in (("  referenc: teacher\n", "benchmark.referenc"),
                         ("  reference: nobody\n", "benchmark.reference"),
                         ("  batch_sizes: [1]\n  pick_batch: 8\n", "benchmark")):
        recipe = tiny_recipe(tmp_path, *sentiment_files,
                             stages="\n  - kind: finetune\n    name: teacher\nbenchmark:\n" + block)
        with pytest.raises(RecipeError) as err:
            plan(recipe, registry)
        assert str(err.value).startswith(f"{recipe}: {field}")


def test_bench_of_an_empty_folder_is_one_line(tmp_path):
    out = slimkit_cli("bench", str(tmp_path))
    assert out.returncode == 2 and "holds no finished variants" in out.stderr


def plant_slowdown(source: Path, target: Path, factor: float) -> None:
    """A copy of a BERT variant with ``1 + factor`` times its layers (copies of its own): about
    ``1 + factor`` times the work per call. Plain weights, so slimkit loads it without code."""
    import copy

    from torch import nn

    from slimkit import artifacts

    shutil.rmtree(target, ignore_errors=True)
    variant = artifacts.load_variant(source)
    model = variant.model
    layers = list(model.bert.encoder.layer)
    extra = [copy.deepcopy(layers[i % len(layers)]) for i in range(round(factor * len(layers)))]
    model.bert.encoder.layer = nn.ModuleList(layers + extra)
    model.config.num_hidden_layers = len(model.bert.encoder.layer)
    model.save_pretrained(target)
    variant.tokenizer.save_pretrained(target)
    manifest = json.loads((source / "manifest.json").read_text())
    manifest.update(variant=target.name, fingerprint=f"slow-{factor}",
                    files=artifacts.checksums(target))
    (target / "manifest.json").write_text(json.dumps(manifest))


def test_a_planted_slowdown_is_caught_end_to_end(benched, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(benched / "teacher", run / "teacher")
    reports = {}
    # 8x the layers: on a tiny model a call is mostly fixed overhead, so only a large planted
    # slow-down stays clear of the noise of a CI machine running other tests beside it (2x
    # the layers once measured +11 %)
    for factor in (0.0, 7.0):
        plant_slowdown(benched / "teacher", run / "candidate", factor)
        out = slimkit_cli("bench", str(run), "--out", str(tmp_path / f"x{factor}"), "--backends",
                          "pytorch", "--batch-sizes", "4", "--seq-lens", "16", "--rounds", "6",
                          "--per-round", "5")
        assert out.returncode == 0, out.stderr
        reports[factor] = str(tmp_path / f"x{factor}" / "report.json")
    assert load_report(reports[7.0])["command"].startswith(f"slimkit -q bench {run} --out ")
    out = slimkit_cli("compare", reports[7.0], reports[0.0])
    assert out.returncode == 1, out.stdout
    failing = [line.split(" | ")[:2] for line in out.stdout.splitlines() if line.endswith("| FAIL |")]
    assert ["| candidate/pytorch/cpu", "round_ratio_p50 geomean of 1 shape(s)"] in failing
    assert all(row == "| candidate/pytorch/cpu" for row, _ in failing)


def test_bench_exits_1_when_every_measurement_failed(benched, tmp_path):
    out = slimkit_cli("bench", str(benched), "--out", str(tmp_path), "--backends", "pytorch",
                      "--batch-sizes", "1", "--seq-lens", "8", "--rounds", "1",
                      env={"SLIMKIT_PLANT_SLOWDOWN": "teacher/pytorch=fast"})
    assert out.returncode == 1, out.stdout
    assert "error: every measurement failed; the first: teacher/pytorch: " in out.stderr
    assert "is not variant/backend=FACTOR" in out.stderr
    assert (tmp_path / "report.json").is_file()  # the report still says what failed, row by row


def test_the_example_workflow_points_at_a_valid_baseline_and_tolerances():
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "benchmark.yml").read_text())
    gate = next(s["run"] for s in workflow["jobs"]["gate"]["steps"] if s.get("name") == "Regression gate")
    words = gate.split()
    baseline = words[words.index("compare") + 2]
    tolerances = words[words.index("--tolerances") + 1]
    assert load_report(REPO / baseline)["reference"] == "teacher"
    assert load_tolerances(REPO / tolerances).latency_shape is None
    # the baseline was measured as the Benchmark step measures, or compare refuses the pair
    bench = next(s["run"] for s in workflow["jobs"]["gate"]["steps"] if s.get("name") == "Benchmark")
    flags = bench.split()
    settings = load_report(REPO / baseline)["settings"]
    for flag, key in (("--threads", "threads"), ("--rounds", "rounds"), ("--per-round", "per_round")):
        assert int(flags[flags.index(flag) + 1]) == settings[key], flag
    # the gate reads round_ratio_p50 where both reports have it: a baseline without it would
    # quietly put the CI gate back on the noisier ratio of the p50s
    rows = [r for r in load_report(REPO / baseline)["rows"] if r.get("latency")]
    assert rows and all("round_ratio_p50" in x for r in rows for x in r["latency"])


def test_real_texts_are_timed_at_their_own_lengths_beside_the_fixed_shapes(benched, tmp_path):
    out = slimkit_cli("bench", str(benched), "--out", str(tmp_path), "--variants", "onnx-int8",
                      "--backends", "onnxruntime", "--devices", "cpu", "--batch-sizes", "1",
                      "--seq-lens", "16", "--real-texts", "true", "--rounds", "3", "--per-round",
                      "4", "--warmup", "1")
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in load_report(tmp_path / "report.json")["rows"]}
    for row_id in ("teacher/pytorch/cpu", "onnx-int8/onnxruntime/cpu"):
        shapes = [(x["batch_size"], x["seq_len"], x["iterations"]) for x in rows[row_id]["latency"]]
        assert shapes == [(1, 16, 12), (1, "real", 12)]
    real = rows["onnx-int8/onnxruntime/cpu"]["latency"][1]
    assert real["p50_ratio"] == pytest.approx(real["p50_ms"] / real["reference_p50_ms"])
    assert "| b1/s16 p50 ms (ratio) | b1/real texts p50 ms (ratio) |" in \
        (tmp_path / "report.md").read_text()


def test_a_list_of_batches_is_taken_in_turn_the_same_ones_for_both_sides():
    from transformers import AutoTokenizer

    from benchmarks.latency import real_batches, time_pair
    from slimkit.data import Dataset
    from slimkit.models import resolve_source

    tokenizer = AutoTokenizer.from_pretrained(resolve_source("minilm-l6"))
    rows = Dataset(["one", "one two three", "one two three four five six"], None, [0, 0, 0],
                   ["0", "1"], "test")
    batches = real_batches(tokenizer, rows, max_length=6)
    assert [b["input_ids"].shape for b in batches] == [(1, 3), (1, 5), (1, 6)]  # cut at 6
    seen: dict[str, list[int]] = {"target": [], "reference": []}
    time_pair(lambda b: seen["target"].append(b["input_ids"].shape[1]),
              lambda b: seen["reference"].append(b["input_ids"].shape[1]), batches, warmup=0,
              rounds=2, per_round=2)
    assert seen["target"] == seen["reference"] == [3, 5, 6, 3]


def test_the_report_shows_training_curves_and_per_class_scores(benched, report):
    teacher = report["variants"]["teacher"]
    manifest = json.loads((benched / "teacher" / "manifest.json").read_text())
    assert teacher["training"]["history"] == manifest["training"]["history"]
    assert teacher["per_class"] == manifest["metrics"]["per_class"]
    assert "training" not in report["variants"]["onnx-int8"]  # quantized, not trained
    text = (benched / "report.md").read_text()
    assert "| teacher | " in text.split("Training (")[1]
    assert "Per class, `teacher`" in text and "| label | precision | recall | F1 | support |" in text
    assert (benched / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_a_published_report_names_the_training_plot_published_beside_it(benched, tmp_path):
    from benchmarks.report import publish

    publish(benched, tmp_path / "results", "tiny")
    text = (tmp_path / "results" / "tiny.md").read_text()
    assert "`tiny-training.png` beside this file" in text
    assert (tmp_path / "results" / "tiny-training.png").read_bytes()[:4] == b"\x89PNG"
    assert text.replace("tiny-training.png", "training.png") == (benched / "report.md").read_text()


def test_quality_is_scored_in_the_batches_the_setting_asks_for(benched, tmp_path):
    """Dynamic INT8 quantizes each call by that call's range: eval_batch_size 1 scores each row
    alone, as a batch-1 server would, and the report says which batch it scored in."""
    from backends.registry import open_runtime
    from slimkit.artifacts import load_variant
    from slimkit.data import load_splits
    from slimkit.inference import batched_logits
    from slimkit.recipe import load_recipe

    out = slimkit_cli("bench", str(benched), "--out", str(tmp_path), "--variants", "onnx-int8",
                      "--backends", "onnxruntime", "--devices", "cpu", "--batch-sizes", "1",
                      "--seq-lens", "16", "--rounds", "2", "--per-round", "2", "--warmup", "1",
                      "--eval-batch-size", "1")
    assert out.returncode == 0, out.stderr
    report = load_report(tmp_path / "report.json")
    assert report["settings"]["eval_batch_size"] == 1
    assert "Accuracy and F1 scored in batches of 1." in (tmp_path / "report.md").read_text()
    recipe_file = benched.parents[1] / "recipe.yaml"
    rows = load_splits(load_recipe(recipe_file).data, str(recipe_file)).eval
    variant = load_variant(benched / "onnx-int8")
    runtime = open_runtime(variant, "onnxruntime", "cpu", 1, None)
    alone = batched_logits(runtime.logits, variant.tokenizer, rows, 24, 1, progress=False)
    [row] = [r for r in report["rows"] if r["id"] == "onnx-int8/onnxruntime/cpu"]
    assert decode(row["predictions"]).tolist() == alone.argmax(axis=1).tolist()


def test_a_trained_variant_measured_only_through_its_export_keeps_its_training_record(benched):
    """Only onnx-int8 is named; its lineage (onnx, then the trained teacher) comes with it, so the
    report's Training section shows the model that was trained before it was exported."""
    from benchmarks.variant_details import variant_details

    details = variant_details(benched, ["onnx-int8"])
    assert list(details) == ["onnx-int8", "onnx", "teacher"]
    manifest = json.loads((benched / "teacher" / "manifest.json").read_text())
    assert details["teacher"]["training"]["history"] == manifest["training"]["history"]
    assert "training" not in details["onnx-int8"]
