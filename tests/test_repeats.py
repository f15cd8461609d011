"""``benchmark.repeats``: a row measured in several processes is merged into medians, its every
ratio kept; one failed repeat fails the row; the harness makes whole passes over the rows."""

from __future__ import annotations

import pytest

from benchmarks.repeats import merge_repeats


def measured(ratio: float, p50: float, seconds: float = 2.0, status: str = "ok") -> dict:
    if status != "ok":
        return {"id": "x/onnxruntime/cpu", "status": status, "reason": "boom"}
    shape = {"batch_size": 1, "seq_len": 16, "iterations": 10, "p50_ms": p50, "p90_ms": p50 * 1.2,
             "p99_ms": p50 * 1.5, "mean_ms": p50, "stdev_ms": 0.1, "throughput": 1000 / p50,
             "reference_p50_ms": p50 / ratio, "p50_ratio": ratio, "p90_ratio": ratio,
             "round_ratio_min": ratio * 0.9, "round_ratio_max": ratio * 1.1,
             "calibration_ms": 1.0, "p50_calibrated": p50}
    row = {"id": "x/onnxruntime/cpu", "status": status, "seconds": seconds, "peak_rss_mb": p50 * 10,
           "calibration_ms": 1.0, "quality": {"accuracy": 0.9}, "latency": [shape]}
    return row


def test_one_measurement_is_the_row_itself():
    row = measured(0.5, 2.0)
    assert merge_repeats([row]) is row


def test_repeats_merge_into_medians_and_keep_every_ratio():
    merged = merge_repeats([measured(0.5, 2.0), measured(0.7, 3.0), measured(0.6, 2.5)])
    shape = merged["latency"][0]
    assert shape["p50_ratio"] == 0.6 and shape["p50_ms"] == 2.5  # medians, not means
    assert shape["p50_ratio_repeats"] == [0.5, 0.7, 0.6]  # in the order measured
    spreads = shape["round_ratio_repeats"]  # each process's own rounds
    assert [low for low, _ in spreads] == pytest.approx([0.45, 0.63, 0.54])
    assert [high for _, high in spreads] == pytest.approx([0.55, 0.77, 0.66])
    assert shape["iterations"] == 30
    assert shape["round_ratio_min"] == pytest.approx(0.45)
    assert shape["round_ratio_max"] == pytest.approx(0.77)
    assert merged["repeats"] == 3 and merged["seconds"] == 6.0 and merged["peak_rss_mb"] == 30.0


def test_a_failed_repeat_fails_the_row_and_says_which():
    merged = merge_repeats([measured(0.5, 2.0), measured(0.5, 2.0, status="failed")])
    assert merged["status"] == "failed"
    assert merged["reason"] == "repeat 2 of 2: boom"


def test_the_harness_measures_every_row_once_per_pass(monkeypatch, tmp_path):
    from benchmarks import harness
    from benchmarks.targets import Target
    from slimkit.settings import BenchmarkConfig

    targets = [Target("a", "pytorch", "cpu", "A"), Target("b", "onnxruntime", "cpu", "B")]
    order, ratios = [], iter([0.5, 0.9, 0.7, 0.8, 0.6, 1.0])
    monkeypatch.setattr(harness, "plan_targets", lambda run_dir, cfg: (targets, []))
    monkeypatch.setattr(harness, "_write_eval_rows", lambda *a: (tmp_path / "rows", 16, {}))

    def fake_measure(run_dir, target, *rest):
        order.append(target.variant)
        return {**measured(next(ratios), 2.0), "id": target.key}
    monkeypatch.setattr(harness, "_measure", fake_measure)
    monkeypatch.setattr("benchmarks.report.build_report", lambda *a: {"rows": a[3]})
    monkeypatch.setattr("benchmarks.report.write_report", lambda report, folder: None)
    report = harness.bench(tmp_path, BenchmarkConfig(repeats=3), progress=False)
    assert order == ["a", "b"] * 3  # passes over the rows, not one row three times running
    assert [r["latency"][0]["p50_ratio_repeats"] for r in report["rows"]] == [[0.5, 0.7, 0.6],
                                                                              [0.9, 0.8, 1.0]]
    assert [r["latency"][0]["p50_ratio"] for r in report["rows"]] == [0.6, 0.9]


def test_repeats_must_be_positive():
    from pydantic import ValidationError

    from slimkit.settings import BenchmarkConfig

    with pytest.raises(ValidationError, match="repeats"):
        BenchmarkConfig(repeats=0)
