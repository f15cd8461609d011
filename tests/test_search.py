"""The search block: the fastest deployable variant within the budget, not the first one; peers
are measured but not picked; the pick is published as runs/<recipe>/best with its manifest."""

from __future__ import annotations

import json

import pytest

from benchmarks.best import apply_search
from benchmarks.report import SCHEMA, load_report, markdown, publish, write_report
from benchmarks.search import pick
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry
from slimkit.settings import BenchmarkConfig, SearchConfig

from .conftest import tiny_recipe


def row(variant: str, backend: str, accuracy: float, ratio: float, native: bool = True) -> dict:
    latency = {"batch_size": 1, "seq_len": 64, "iterations": 10, "p50_ms": ratio * 20,
               "p90_ms": ratio * 22, "p99_ms": ratio * 25, "mean_ms": ratio * 20, "stdev_ms": 1.0,
               "throughput": 50 / ratio, "reference_p50_ms": 20.0, "p50_ratio": ratio,
               "p90_ratio": ratio, "round_ratio_min": ratio, "round_ratio_max": ratio}
    return {"id": f"{variant}/{backend}/cpu", "variant": variant, "backend": backend, "device": "cpu",
            "native": native, "status": "ok", "precision": "fp32", "size_bytes": 1000,
            "peak_rss_mb": 500.0, "quality": {"accuracy": accuracy, "f1": accuracy, "agreement": 1.0},
            "latency": [latency]}


def synthetic_report() -> dict:
    settings = BenchmarkConfig(batch_sizes=[1], seq_lens=[64], peers=["peer-int8"])
    return {"schema": SCHEMA, "run_dir": "runs/x", "reference": "teacher", "threads": 2,
            "machine": {"cpu": "test cpu", "versions": {}}, "wall_seconds": 1.0, "skipped": [],
            "settings": settings.model_dump(mode="json"), "best": {}, "rows": [
                row("teacher", "pytorch", 0.900, 1.00),
                row("student", "openvino", 0.893, 0.20, native=False),  # not deployable as is
                row("student-ov", "openvino", 0.892, 0.25),
                row("student-ov-int8", "openvino", 0.891, 0.12),   # within 1 pt: fastest pick
                row("tiny-int8", "openvino", 0.880, 0.05),          # fastest, but 2 pt down
                row("student-onnx", "onnxruntime", 0.899, 0.40),
                row("peer-int8", "openvino", 0.898, 0.10)]}        # a peer: measured, not picked


def test_the_fastest_deployable_row_within_the_budget_wins():
    result = pick(synthetic_report(), SearchConfig(budget=1.0))
    assert result["pick"]["id"] == "student-ov-int8/openvino/cpu"
    assert result["floor"] == pytest.approx(0.89)
    assert "tiny-int8/openvino/cpu" in result["considered"]
    assert "tiny-int8/openvino/cpu" not in result["within_budget"]
    assert "student/openvino/cpu" not in result["considered"]
    assert result["best_peer"]["id"] == "peer-int8/openvino/cpu"
    assert result["speedup_over_best_peer"] == pytest.approx(0.10 / 0.12)


def test_backend_budget_and_peers_change_the_pick():
    report = synthetic_report()
    assert pick(report, SearchConfig(backend="onnxruntime"))["pick"]["id"] == "student-onnx/onnxruntime/cpu"
    assert pick(report, SearchConfig(budget=2.5))["pick"]["id"] == "tiny-int8/openvino/cpu"
    assert pick(report, SearchConfig(include_peers=True))["pick"]["id"] == "peer-int8/openvino/cpu"
    nothing = pick(report, SearchConfig(budget=0.0, backend="openvino"))
    assert nothing["pick"] is None and "within 0 pt" in nothing["why"]


def test_the_pick_is_published_as_best_with_its_manifest(tmp_path):
    run = tmp_path / "x"
    for name in ("teacher", "student-ov-int8", "student-onnx"):
        (run / name).mkdir(parents=True)
        (run / name / "manifest.json").write_text(json.dumps({"variant": name}))
        (run / name / "openvino_model.xml").write_text("<net/>")
    write_report(synthetic_report(), run)
    apply_search(run, SearchConfig())
    assert json.loads((run / "best" / "manifest.json").read_text())["variant"] == "student-ov-int8"
    assert (run / "best" / "openvino_model.xml").is_file()
    best = json.loads((run / "best" / "best.json").read_text())
    assert best["pick"]["id"] == "student-ov-int8/openvino/cpu"
    assert load_report(run)["search"]["pick"]["variant"] == "student-ov-int8"
    text = (run / "report.md").read_text()
    assert "**student-ov-int8/openvino/cpu**" in text and "| peer-int8 (peer) |" in text
    apply_search(run, SearchConfig(backend="onnxruntime"))  # replaced, not nested
    assert json.loads((run / "best" / "manifest.json").read_text())["variant"] == "student-onnx"
    assert not (run / "best" / "best").exists()


def test_markdown_says_why_there_is_no_pick():
    report = synthetic_report()
    report["search"] = pick(report, SearchConfig(budget=0.0, backend="openvino"))
    assert "no pick: none of" in markdown(report)


def test_markdown_says_slower_when_the_peer_beats_the_pick():
    report = synthetic_report()
    report["search"] = pick(report, SearchConfig())  # pick 0.12, peer 0.10
    assert "the pick is 1.20x slower than it (the peer is outside the search" in markdown(report)
    report["search"] = pick(report, SearchConfig(budget=2.5))  # pick 0.05
    assert "the pick is 2.00x faster than it." in markdown(report)


@pytest.mark.parametrize("block, problem", [
    ("search:\n  budget: 1.0\n", "search needs a benchmark: block"),
    ("benchmark:\n  batch_sizes: [32]\nsearch:\n  batch_size: 1\n", "search.batch_size 1 is not measured"),
    ("benchmark:\n  backends: [pytorch]\nsearch:\n  backend: openvino\n", "search.backend openvino"),
])
def test_search_is_validated_with_the_recipe(tmp_path, sentiment_files, block, problem):
    recipe = tiny_recipe(tmp_path, *sentiment_files,
                         stages="\n  - kind: finetune\n    name: teacher\n" + block)
    with pytest.raises(RecipeError, match=problem):
        plan(recipe, build_registry())


def test_best_is_a_reserved_variant_name(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages="\n  - kind: finetune\n    name: best\n")
    with pytest.raises(RecipeError, match="stages\\[0\\].name: 'best' is where the search"):
        plan(recipe, build_registry())


def test_publish_copies_the_report_files_under_the_recipe_name(tmp_path):
    write_report(synthetic_report(), tmp_path / "run")
    publish(tmp_path / "run", tmp_path / "results", "sst2-minilm")
    assert load_report(tmp_path / "results" / "sst2-minilm.json")["reference"] == "teacher"
    copied = (tmp_path / "results" / "sst2-minilm.md").read_text()
    assert copied == (tmp_path / "run" / "report.md").read_text()  # no training: no plot named
    assert (tmp_path / "results" / "sst2-minilm.png").read_bytes()[:4] == b"\x89PNG"


def test_the_search_line_says_how_many_rows_it_chose_among():
    report = synthetic_report()
    report["rows"].append({**row("broken", "onnxruntime", 0.0, 1.0), "status": "failed",
                           "reason": "worker exited with 1"})
    report["skipped"] = [{"variant": "student-ov", "backend": "onnxruntime", "device": "cpu",
                          "reason": "onnxruntime is not in benchmark.backends ['openvino']"}]
    result = pick(report, SearchConfig(budget=1.0))
    assert result["rows"] == {"measured": 7, "failed": 1, "skipped": 1}
    report["search"] = result
    text = markdown(report)
    assert "5 deployable rows considered of 7 measured (1 failed, 1 skipped)" in text
    assert "- student-ov on onnxruntime / cpu: onnxruntime is not in benchmark.backends" in text
