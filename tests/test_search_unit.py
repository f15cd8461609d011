"""The search block beyond tests/test_search.py: the exact result it records, the budget's edge,
a run without a reference, re-applying to an unchanged report, and how ``best`` is replaced."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone

import pytest

from benchmarks.best import apply_search, publish
from benchmarks.report import write_report
from benchmarks.search import pick
from slimkit.settings import SearchConfig

from .test_search import row, synthetic_report


def test_the_result_records_the_pick_the_budget_and_what_it_chose_among():
    report = synthetic_report()
    report["rows"][3]["quality"]["f1"] = 0.875  # student-ov-int8: f1 apart from accuracy
    result = pick(report, SearchConfig())
    assert result["search"] == {"budget": 1.0, "metric": "accuracy", "backend": None, "device": "cpu",
                                "batch_size": 1, "seq_len": 64, "include_peers": False}
    assert result["reference_value"] == 0.900
    assert result["considered"] == ["teacher/pytorch/cpu", "student-ov/openvino/cpu",
                                    "student-ov-int8/openvino/cpu", "tiny-int8/openvino/cpu",
                                    "student-onnx/onnxruntime/cpu"]
    assert result["within_budget"] == ["teacher/pytorch/cpu", "student-ov/openvino/cpu",
                                       "student-ov-int8/openvino/cpu", "student-onnx/onnxruntime/cpu"]
    assert result["rows"] == {"measured": 7, "failed": 0, "skipped": 0}
    assert result["pick"] == {"id": "student-ov-int8/openvino/cpu", "variant": "student-ov-int8",
                              "backend": "openvino", "accuracy": 0.891, "f1": 0.875, "p50_ratio": 0.12,
                              "speedup": pytest.approx(1 / 0.12)}
    assert result["best_peer"]["speedup"] == pytest.approx(10.0)
    assert "why" not in result


def test_the_budget_can_be_on_f1():
    report = synthetic_report()
    report["rows"][3]["quality"]["f1"] = 0.875  # 2.5 pt of F1 below the teacher's 0.900
    result = pick(report, SearchConfig(metric="f1"))
    assert result["pick"]["id"] == "student-ov/openvino/cpu" and result["floor"] == pytest.approx(0.89)


def test_a_row_exactly_at_the_budget_is_within_it():
    report = synthetic_report()
    # 0.900 - 0.25 / 100 is 0.8975000000000001 in floats; a row 0.25 pt down must still count
    report["rows"].append(row("edge-int8", "openvino", 0.8975, 0.08))
    result = pick(report, SearchConfig(budget=0.25))
    assert result["floor"] > 0.8975
    assert result["pick"]["id"] == "edge-int8/openvino/cpu"
    assert pick(report, SearchConfig(budget=0.24))["pick"]["id"] == "student-onnx/onnxruntime/cpu"


@pytest.mark.parametrize("device, change", [("cuda", {}), ("cpu", {"status": "failed"}),
                                            ("cpu", {"backend": "onnxruntime"})])
def test_without_a_measured_pytorch_reference_on_the_device_there_is_no_pick(device, change):
    report = synthetic_report()
    report["rows"][0].update(change)
    assert pick(report, SearchConfig(device=device)) == {
        "pick": None, "why": f"the reference was not measured on {device}"}


def make_run(tmp_path):
    run = tmp_path / "x"
    for name in ("teacher", "student-ov-int8", "student-onnx"):
        (run / name).mkdir(parents=True)
        (run / name / "manifest.json").write_text(json.dumps({"variant": name}))
    write_report(synthetic_report(), run)
    return run


def test_applying_the_same_search_again_changes_nothing(tmp_path):
    run = make_run(tmp_path)
    first = apply_search(run, SearchConfig())
    (run / "best" / "note.txt").write_text("left by the user")
    report_file = (run / "report.json").stat().st_ino
    assert apply_search(run, SearchConfig()) == first
    assert (run / "best" / "note.txt").is_file()  # not published again
    assert (run / "report.json").stat().st_ino == report_file  # not rewritten


def test_a_best_folder_removed_since_is_published_again(tmp_path):
    run = make_run(tmp_path)
    apply_search(run, SearchConfig())
    for file in (run / "best").iterdir():  # manifest.json and best.json
        file.unlink()
    (run / "best").rmdir()
    apply_search(run, SearchConfig())
    assert json.loads((run / "best" / "manifest.json").read_text())["variant"] == "student-ov-int8"


def test_no_pick_is_recorded_once_and_warned_about(tmp_path, caplog):
    run = make_run(tmp_path)
    nothing = SearchConfig(budget=0.0, backend="openvino")
    with caplog.at_level(logging.INFO, logger="benchmarks.best"):
        result = apply_search(run, nothing)
    assert result["pick"] is None and not (run / "best").exists()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "search: none of 3 deployable rows is within 0 pt")]
    report_file = (run / "report.json").stat().st_ino
    assert apply_search(run, nothing) == result
    assert (run / "report.json").stat().st_ino == report_file


def test_the_pick_is_logged_with_its_speedup_and_metric(tmp_path, caplog):
    run = make_run(tmp_path)
    with caplog.at_level(logging.INFO, logger="benchmarks.best"):
        apply_search(run, SearchConfig())
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "search: best is student-ov-int8/openvino/cpu, 8.3x faster than the reference at "
                 "accuracy 0.8910")]


def test_publish_replaces_best_whole_and_leaves_no_temporary_folders(tmp_path):
    run = make_run(tmp_path)
    (run / "teacher" / "weights.bin").write_bytes(b"teacher")
    # a folder left by an earlier publish of this process that was killed half-way
    stale = run / f".best.tmp-{os.getpid()}"
    stale.mkdir()
    (stale / "half-copied.bin").write_bytes(b"x")
    (run / "best").mkdir()
    (run / "best" / "weights.bin").write_bytes(b"old pick")
    result = {"pick": {"variant": "teacher", "id": "teacher/pytorch/cpu"}}
    assert publish(run, result) == run / "best"
    assert sorted(p.name for p in (run / "best").iterdir()) == ["best.json", "manifest.json", "weights.bin"]
    assert (run / "best" / "weights.bin").read_bytes() == b"teacher"
    assert not [p.name for p in run.iterdir() if p.name.startswith(".best")]
    best = json.loads((run / "best" / "best.json").read_text())
    assert best["pick"] == result["pick"]
    created = datetime.fromisoformat(best["created"])
    assert created.utcoffset() == timedelta(0)  # UTC, with its offset written
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)


def test_the_pick_is_also_measured_against_the_fastest_peer_of_the_same_accuracy():
    report = synthetic_report()
    report["settings"]["peers"] = ["peer-int8", "peer-fast"]
    report["rows"].append(row("peer-fast", "onnxruntime", 0.870, 0.06))  # faster, 3 pt down
    result = pick(report, SearchConfig(budget=1.0))
    assert result["best_peer"]["id"] == "peer-fast/onnxruntime/cpu"
    assert result["speedup_over_best_peer"] == pytest.approx(0.06 / 0.12)
    assert result["best_peer_in_budget"]["id"] == "peer-int8/openvino/cpu"
    assert result["speedup_over_best_peer_in_budget"] == pytest.approx(0.10 / 0.12)
    lines = [line for line in markdown_of(report, result) if "peer" in line.lower()]
    assert any(line.startswith("Best peer: peer-fast/onnxruntime/cpu (16.7x") for line in lines)
    assert ("Best peer within 1 pt: peer-int8/openvino/cpu (10.0x, accuracy 0.8980); the pick is "
            "1.20x slower than it.") in lines


def test_with_every_peer_outside_the_budget_the_report_says_so():
    report = synthetic_report()
    report["rows"][-1]["quality"]["accuracy"] = 0.850
    result = pick(report, SearchConfig(budget=1.0))
    assert result["best_peer_in_budget"] is None
    assert "speedup_over_best_peer_in_budget" not in result
    assert "No peer is within 1 pt of the reference's accuracy." in markdown_of(report, result)


def markdown_of(report: dict, result: dict) -> list[str]:
    from benchmarks.report import markdown

    return markdown({**report, "search": result}).splitlines()


def test_a_report_from_before_the_in_budget_peer_renders_as_it_did():
    report = synthetic_report()
    result = pick(report, SearchConfig(budget=1.0))
    report["rows"][-1]["quality"]["accuracy"] = 0.850
    old = {k: v for k, v in pick(report, SearchConfig(budget=1.0)).items()
           if "in_budget" not in k}
    assert not any(line.startswith(("Best peer within", "No peer")) for line in markdown_of(report, old))
    assert result["best_peer_in_budget"] == result["best_peer"]
