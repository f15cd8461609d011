"""The CI regression gate on hand-built reports (no model, no benchmark): which checks a pair of
reports yields, with their exact numbers, limits and verdicts, and the table the CLI prints."""

from __future__ import annotations

import copy

import pytest

from benchmarks.compare import (
    Check,
    compare,
    load_tolerances,
    reference_calibrated,
    skipped,
    table,
)
from slimkit.errors import RecipeError
from slimkit.settings import Tolerances

ID = "student/onnxruntime/cpu"
POINTS = Tolerances(significance=None)  # quality judged on points alone, as before the paired test


def shape(batch_size: int, seq_len: int, p50: float, p90: float | None = None) -> dict:
    return {"batch_size": batch_size, "seq_len": seq_len, "p50_ms": 10 * p50, "p50_ratio": p50,
            "p90_ratio": p50 if p90 is None else p90}


def row(row_id: str = ID, accuracy: float = 0.900, f1: float = 0.880, latency=None,
        rss: float | None = 500.0, size: int | None = 1000, **extra) -> dict:
    quality = {"accuracy": accuracy, "f1": f1, "agreement": 1.0}
    return {"id": row_id, "status": "ok", "quality": quality,
            "latency": [shape(1, 64, 1.0), shape(8, 128, 4.0)] if latency is None else latency,
            "peak_rss_mb": rss, "size_bytes": size, **extra}


def report(*rows: dict, reference: str = "teacher") -> dict:
    return {"reference": reference, "rows": list(rows)}


def verdicts(checks: list[Check]) -> list[tuple[str, str, bool, bool]]:
    return [(c.row, c.metric, c.failed, c.moved) for c in checks]


def test_an_unchanged_report_yields_every_default_check_passed_and_unmoved():
    base = report(row())
    checks = compare(copy.deepcopy(base), base, Tolerances())
    # defaults: accuracy and f1 in points, p50 per shape and its geometric mean; agreement, p90,
    # memory and size are off
    assert verdicts(checks) == [(ID, "accuracy", False, False), (ID, "f1", False, False),
                                (ID, "b1/s64 p50_ratio", False, False),
                                (ID, "b8/s128 p50_ratio", False, False),
                                (ID, "p50_ratio geomean of 2 shape(s)", False, False)]
    assert [c.change for c in checks] == ["+0.00 pt", "+0.00 pt", "+0.0%", "+0.0%", "+0.0%"]
    assert [c.limit for c in checks] == ["drop <= 1 pt", "drop <= 1 pt", "rise <= 30%", "rise <= 30%",
                                         "rise <= 15%"]


def test_quality_is_compared_in_points_with_the_limit_itself_allowed():
    base = report(row(accuracy=0.900, f1=0.880))
    checks = compare(report(row(accuracy=0.885, f1=0.885)), base, POINTS)
    assert checks[0] == Check(ID, "accuracy", 0.900, 0.885, "-1.50 pt", "drop <= 1 pt", True, True)
    # a rise is never a failure, but it moved
    assert checks[1] == Check(ID, "f1", 0.880, 0.885, "+0.50 pt", "drop <= 1 pt", False, True)
    # exactly one point down (0.90 - 0.89 is 1.0000000000000009 pt in floats) is within 1 pt
    at_limit = compare(report(row(accuracy=0.890)), base, POINTS)[0]
    assert (at_limit.change, at_limit.failed, at_limit.moved) == ("-1.00 pt", False, True)
    past = compare(report(row(accuracy=0.8899)), base, POINTS)[0]
    assert (past.change, past.failed) == ("-1.01 pt", True)


def test_agreement_is_checked_only_when_given_a_limit_and_a_missing_metric_is_skipped():
    base = report(row())
    new = report(row())
    new["rows"][0]["quality"]["agreement"] = 0.994
    quiet = Tolerances(latency=None, latency_shape=None)
    assert [c.metric for c in compare(new, base, quiet)] == ["accuracy", "f1"]
    checks = compare(new, base, Tolerances(agreement=0.5, latency=None, latency_shape=None))
    assert checks[2] == Check(ID, "agreement", 1.0, 0.994, "-0.60 pt", "drop <= 0.5 pt", True, True)
    # a metric either side lacks (an old report without F1) is no check, not a failure
    # a metric switched off or missing is skipped, and the metrics after it are still checked
    assert [c.metric for c in compare(new, base, Tolerances(accuracy=None, agreement=0.5, latency=None,
                                                            latency_shape=None))] == ["f1", "agreement"]
    del new["rows"][0]["quality"]["f1"]
    assert [c.metric for c in compare(new, base, Tolerances(agreement=0.5, latency=None,
                                                            latency_shape=None))] == ["accuracy", "agreement"]
    assert [c.metric for c in compare(new, base, quiet)] == ["accuracy"]
    del base["rows"][0]["quality"]["accuracy"]
    assert compare(new, base, quiet) == []
    assert compare(report(row()), report(row()), Tolerances(accuracy=None, f1=None, latency=None,
                                                            latency_shape=None)) == []


def test_latency_per_shape_and_geometric_mean_of_the_p50_ratio():
    base = report(row(latency=[shape(1, 64, 1.0), shape(8, 128, 4.0)]))
    new = report(row(latency=[shape(1, 64, 1.0), shape(8, 128, 9.0)]))
    checks = compare(new, base, Tolerances())[2:]
    assert verdicts(checks) == [(ID, "b1/s64 p50_ratio", False, False),
                                (ID, "b8/s128 p50_ratio", True, True),
                                (ID, "p50_ratio geomean of 2 shape(s)", True, True)]
    assert (checks[1].baseline, checks[1].new, checks[1].change) == (4.0, 9.0, "+125.0%")
    mean = checks[2]
    # geometric means: sqrt(1 * 4) = 2 and sqrt(1 * 9) = 3, a 50 % rise
    assert (mean.baseline, mean.new) == (pytest.approx(2.0), pytest.approx(3.0))
    assert (mean.change, mean.limit) == ("+50.0%", "rise <= 15%")


def test_a_slowdown_at_one_shape_offset_by_another_passes_the_mean():
    base = report(row(latency=[shape(1, 64, 1.0), shape(8, 128, 1.0)]))
    new = report(row(latency=[shape(1, 64, 1.44), shape(8, 128, 0.81)]))  # mean sqrt(1.1664) = 1.08
    checks = compare(new, base, Tolerances(latency_shape=0.5))[2:]
    assert verdicts(checks) == [(ID, "b1/s64 p50_ratio", False, True), (ID, "b8/s128 p50_ratio", False, True),
                                (ID, "p50_ratio geomean of 2 shape(s)", False, True)]
    assert [c.change for c in checks] == ["+44.0%", "-19.0%", "+8.0%"]


def test_a_rise_equal_to_the_limit_passes_and_moved_means_past_a_third_of_it():
    base = report(row(latency=[shape(1, 64, 1.0)]))
    only_shape = Tolerances(latency=None, latency_shape=0.25, accuracy=None, f1=None)

    def check(p50: float) -> Check:
        [one] = compare(report(row(latency=[shape(1, 64, p50)])), base, only_shape)
        return one

    assert (check(1.25).change, check(1.25).failed) == ("+25.0%", False)  # 1.25 / 1 - 1 is 0.25
    assert (check(1.26).change, check(1.26).failed) == ("+26.0%", True)
    assert check(1.07).moved is False  # 7 % is below a third of 25 % (8.3 %), above a quarter
    assert check(1.09).moved is True
    assert check(0.91).moved is True and check(0.91).failed is False  # faster: moved, not failed
    assert check(1.2).moved is True and check(1.2).failed is False
    # at exactly a third (0.25 of a 0.75 limit, both exact in floats) it has not moved yet
    wide = Tolerances(latency=None, latency_shape=0.75, accuracy=None, f1=None)
    assert [c.moved for c in compare(report(row(latency=[shape(1, 64, 1.25)])), base, wide)] == [False]


def test_p90_is_checked_after_p50_at_each_shape_when_enabled():
    base = report(row(latency=[shape(1, 64, 1.0, p90=1.0), shape(8, 128, 2.0, p90=2.0)]))
    new = report(row(latency=[shape(1, 64, 1.0, p90=1.5), shape(8, 128, 2.0, p90=2.1)]))
    checks = compare(new, base, Tolerances(p90=0.2, accuracy=None, f1=None, latency=None))
    assert [(c.metric, c.change, c.limit, c.failed) for c in checks] == [
        ("b1/s64 p50_ratio", "+0.0%", "rise <= 30%", False),
        ("b1/s64 p90_ratio", "+50.0%", "rise <= 20%", True),
        ("b8/s128 p50_ratio", "+0.0%", "rise <= 30%", False),
        ("b8/s128 p90_ratio", "+5.0%", "rise <= 20%", False)]


def test_a_shape_the_new_report_lacks_fails_and_leaves_the_mean_to_the_rest():
    base = report(row(latency=[shape(8, 128, 4.0), shape(1, 64, 1.0)]))
    new = report(row(latency=[shape(1, 64, 1.1)]))
    checks = compare(new, base, Tolerances(accuracy=None, f1=None))
    assert checks == [
        Check(ID, "b8/s128 latency", None, None, "shape not measured", "must be measured", True, True),
        Check(ID, "b1/s64 p50_ratio", 1.0, 1.1, "+10.0%", "rise <= 30%", False, True),
        Check(ID, "p50_ratio geomean of 1 shape(s)", 1.0, pytest.approx(1.1), "+10.0%", "rise <= 15%",
              False, True)]
    # nothing measured at all: only the missing shapes, no mean of nothing
    nothing = compare(report(row(latency=[])), base, Tolerances(accuracy=None, f1=None))
    assert [c.metric for c in nothing] == ["b8/s128 latency", "b1/s64 latency"]
    assert all(c.failed for c in nothing)


def test_latency_checks_can_be_turned_off_and_a_baseline_without_timings_has_none():
    base = report(row(latency=[shape(1, 64, 1.0), shape(8, 128, 1.0)]))
    new = report(row(latency=[shape(1, 64, 2.0), shape(8, 128, 2.0)]))
    no_quality = {"accuracy": None, "f1": None}
    assert [c.metric for c in compare(new, base, Tolerances(latency=None, **no_quality))] == [
        "b1/s64 p50_ratio", "b8/s128 p50_ratio"]
    assert [c.metric for c in compare(new, base, Tolerances(latency_shape=None, **no_quality))] == [
        "p50_ratio geomean of 2 shape(s)"]
    for untimed in (None, []):
        base["rows"][0]["latency"] = untimed
        assert compare(new, base, Tolerances(**no_quality)) == []
    del base["rows"][0]["latency"]
    assert compare(new, base, Tolerances(**no_quality)) == []


def test_memory_and_size_are_relative_rises_checked_only_when_enabled_and_present():
    base = report(row(rss=500.0, size=1000))
    new = report(row(rss=560.0, size=1010))
    off = {"accuracy": None, "f1": None, "latency": None, "latency_shape": None}
    assert compare(new, base, Tolerances(**off)) == []
    checks = compare(new, base, Tolerances(memory=0.1, size=0.05, **off))
    assert checks == [Check(ID, "peak_rss_mb", 500.0, 560.0, "+12.0%", "rise <= 10%", True, True),
                      Check(ID, "size_bytes", 1000, 1010, "+1.0%", "rise <= 5%", False, False)]
    # a report that did not record one (None or 0) is no check, on either side
    assert [c.metric for c in compare(report(row(rss=560.0, size=None)), base,
                                      Tolerances(memory=0.1, size=0.05, **off))] == ["peak_rss_mb"]
    assert [c.metric for c in compare(new, report(row(rss=0.0, size=1000)),
                                      Tolerances(memory=0.1, size=0.05, **off))] == ["size_bytes"]


def test_checks_come_per_baseline_row_in_order_quality_speed_resources():
    base = report(row("a/pytorch/cpu"), row("b/pytorch/cpu"))
    new = report(row("b/pytorch/cpu", accuracy=0.8), row("a/pytorch/cpu", rss=900.0))
    checks = compare(new, base, Tolerances(f1=None, latency_shape=None, memory=0.5))
    assert verdicts(checks) == [
        ("a/pytorch/cpu", "accuracy", False, False),
        ("a/pytorch/cpu", "p50_ratio geomean of 2 shape(s)", False, False),
        ("a/pytorch/cpu", "peak_rss_mb", True, True),
        ("b/pytorch/cpu", "accuracy", True, True),
        ("b/pytorch/cpu", "p50_ratio geomean of 2 shape(s)", False, False),
        ("b/pytorch/cpu", "peak_rss_mb", False, False)]


def test_a_row_that_disappeared_or_failed_fails_and_a_new_row_is_shown_not_failed():
    failed_base = {"id": "gone-wrong/openvino/cpu", "status": "failed", "reason": "no openvino"}
    base = report(failed_base, row("kept/pytorch/cpu"), row("absent/pytorch/cpu"),
                  row("broken/pytorch/cpu"))
    broken = {"id": "broken/pytorch/cpu", "status": "failed", "reason": "worker exited with 1"}
    fresh = row("fresh/pytorch/cpu")
    new = report(row("kept/pytorch/cpu"), broken, fresh, {**failed_base, "reason": "still none"})
    checks = compare(new, base, Tolerances(accuracy=None, f1=None, latency=None, latency_shape=None))
    # a row that failed in the baseline is neither checked nor "new" (it was asked for before)
    assert checks == [
        Check("absent/pytorch/cpu", "row", None, None, "absent", "must be measured", True, True),
        Check("broken/pytorch/cpu", "row", None, None, "failed: worker exited with 1",
              "must be measured", True, True),
        Check("fresh/pytorch/cpu", "row", None, None, "new, no baseline", "-", False, True)]


def test_a_failed_baseline_row_does_not_stop_the_rows_after_it():
    base = report({"id": "x/pytorch/cpu", "status": "timeout"}, row(accuracy=0.9))
    new = report(row(accuracy=0.85))
    checks = compare(new, base, Tolerances(f1=None, latency=None, latency_shape=None))
    assert verdicts(checks) == [(ID, "accuracy", True, True)]


def test_reports_timed_against_different_references_are_refused():
    with pytest.raises(RecipeError) as err:
        compare(report(row(), reference="student"), report(row()), Tolerances())
    assert str(err.value) == ("the reports time against different references ('student' vs 'teacher') "
                              "(bench both with the same --reference)")


def test_table_shows_what_moved_and_what_failed_then_the_verdict():
    checks = [Check("a/pytorch/cpu", "accuracy", 0.9, 0.9, "+0.00 pt", "drop <= 1 pt", False, False),
              Check("a/pytorch/cpu", "peak_rss_mb", 1234.4, 1500.6, "+21.6%", "rise <= 10%", True, True),
              Check("b/pytorch/cpu", "f1", 0.88, 0.885, "+0.50 pt", "drop <= 1 pt", False, True),
              Check("c/pytorch/cpu", "row", None, None, "absent", "must be measured", True, False)]
    assert table(checks).splitlines() == [
        "| row | metric | baseline | new | change | limit | verdict |",
        "|---|---|---|---|---|---|---|",
        "| a/pytorch/cpu | peak_rss_mb | 1,234 | 1,501 | +21.6% | rise <= 10% | FAIL |",
        "| b/pytorch/cpu | f1 | 0.8800 | 0.8850 | +0.50 pt | drop <= 1 pt | ok |",
        "| c/pytorch/cpu | row | - | - | absent | must be measured | FAIL |",
        "FAIL: 2 of 4 checks past tolerance"]
    assert table(checks[:1]) == "ok: 1 checks within tolerance"
    assert table([]) == "ok: 0 checks within tolerance"


@pytest.mark.parametrize("value, text", [(9.87654, "9.8765"), (-9.5, "-9.5000"), (10.0, "10"),
                                         (-12345.6, "-12,346"), (0.0, "0.0000")])
def test_table_numbers_keep_four_decimals_below_ten_and_thousands_above(value, text):
    line = table([Check("r", "m", value, None, "c", "l", True, True)]).splitlines()[2]
    assert line == f"| r | m | {text} | - | c | l | FAIL |"


def test_tolerances_from_flags_a_file_and_both():
    assert load_tolerances(None) == Tolerances()
    flags = load_tolerances(None, latency=0.3, accuracy=None, memory=0.2)
    assert (flags.latency, flags.accuracy, flags.memory) == (0.3, 1.0, 0.2)  # None: keep the default


def test_tolerance_flags_go_on_top_of_the_file(tmp_path):
    path = tmp_path / "tol.yaml"
    path.write_text("latency: 0.3\naccuracy: 0.5\n")
    both = load_tolerances(path, accuracy=0.2, f1=None)
    assert (both.latency, both.accuracy, both.f1) == (0.3, 0.2, 1.0)
    assert load_tolerances(str(path)).accuracy == 0.5


def test_bad_tolerances_are_one_line_naming_where_they_came_from(tmp_path):
    with pytest.raises(RecipeError) as err:
        load_tolerances(None, latency=-0.1)
    assert str(err.value).startswith("--flags: latency: ")
    path = tmp_path / "tol.yaml"
    path.write_text("latency: 0\n")
    with pytest.raises(RecipeError) as err:
        load_tolerances(path)
    assert str(err.value).startswith(f"{path}: latency: ")
    path.write_text("- 0.5\n")
    with pytest.raises(RecipeError) as err:
        load_tolerances(path)
    assert str(err.value) == (f"{path}: a tolerances must be a mapping of keys "
                              "(e.g. 'accuracy: 0.5' and 'latency: 0.15')")


def test_every_output_format_names_each_failure_in_one_line(tmp_path, monkeypatch):
    import json
    from xml.etree import ElementTree

    from benchmarks.gate_output import explain, render

    base = report(row())
    worse = report(row(accuracy=0.870))
    checks = compare(worse, base, POINTS)
    [failed] = [c for c in checks if c.failed]
    line = explain(failed)
    assert line == f"{ID}: accuracy: 0.9 -> 0.87 (-3.00 pt; limit: drop <= 1 pt)"
    assert render(checks, "markdown").endswith(f"Why:\n- {line}")
    assert json.loads(render(checks, "json"))["explanations"] == [line]
    suite = ElementTree.fromstring(render(checks, "junit"))
    assert suite.get("failures") == "1" and int(suite.get("tests")) == len(checks)
    assert [f.get("message") for f in suite.iter("failure")] == [line]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert render(checks, "github").splitlines()[0] == f"::error title=slimkit compare::{line}"
    assert "| " + ID in summary.read_text()


@pytest.mark.parametrize(("field", "value", "what"), [
    ("recipe", "mrpc-minilm", "recipe is 'mrpc-minilm' in the new report, 'sst2-minilm'"),
    ("eval_rows", {"sha256": "b"}, "eval rows (sha256) is 'b' in the new report, 'a'"),
    ("settings", {"metric": "f1"}, "metric is 'f1' in the new report, 'accuracy'"),
    ("settings", {"metric": "accuracy", "spin_wait": False},
     "spin_wait is False in the new report, True"),
    ("settings", {"metric": "accuracy", "spin_wait": True, "threads": 1},
     "threads is 1 in the new report, None"),
    # a report from before eval_batch_size scored in batches of 32: compared as 32
    ("settings", {"metric": "accuracy", "spin_wait": True, "threads": None, "eval_batch_size": 1},
     "eval_batch_size is 1 in the new report, 32"),
])
def test_reports_of_different_recipes_or_rows_are_refused_in_one_line(field, value, what):
    from benchmarks.gate_output import refuse_incomparable

    base = {**report(row()), "recipe": "sst2-minilm", "eval_rows": {"sha256": "a"},
            "settings": {"metric": "accuracy", "spin_wait": True, "threads": None}}
    refuse_incomparable(copy.deepcopy(base), base)
    with pytest.raises(RecipeError) as caught:
        refuse_incomparable({**base, field: value}, base)
    assert what in str(caught.value) and caught.value.exit_code == 2
    older = {k: v for k, v in base.items() if k != "eval_rows"}  # a report from before: skipped
    refuse_incomparable({**older, "eval_rows": {"sha256": "b"}}, older)
    scored_in_32 = {**base, "settings": {**base["settings"], "eval_batch_size": 32}}
    refuse_incomparable(scored_in_32, base)


def test_a_slower_reference_path_is_caught_by_the_calibrated_time_not_by_the_ratio():
    """Every PyTorch call 30 % slower: the reference's ratio stays 1.0 and the others' fall, but
    the reference's p50 in calibration units, timed in every measurement process, rises."""
    def timed(ratio: float, reference_ms: float, calibration_ms: float) -> dict:
        return {**shape(1, 64, ratio), "reference_p50_ms": reference_ms,
                "calibration_ms": calibration_ms}

    def bench(reference_ms: float, noisy_ms: float) -> dict:
        # three processes: the reference itself, and two rows timing it beside them (one of them
        # on a slow moment of the machine, which the median leaves out)
        return report(row("teacher/pytorch/cpu", latency=[timed(1.0, reference_ms, 2.0)],
                          device="cpu"),
                      row(latency=[timed(10 / reference_ms, reference_ms, 2.0)], device="cpu"),
                      row("other/openvino/cpu", latency=[timed(0.5, noisy_ms, 2.0)],
                          device="cpu"))

    base, slower = bench(20.0, 40.0), bench(26.0, 20.0)
    assert reference_calibrated(base) == {("cpu", 1, 64): (10.0, 3)}
    gate = Tolerances(latency_calibrated=0.25)
    failed = [(c.row, c.metric) for c in compare(slower, base, gate) if c.failed]
    assert failed == [("teacher/pytorch/cpu",
                       "b1/s64 reference p50_calibrated (median of 3 processes)")]
    assert not [c for c in compare(slower, base, Tolerances()) if c.failed]  # off by default
    # the same noisy process alone does not move the median past the limit
    assert not [c for c in compare(bench(20.0, 80.0), base, gate) if c.failed]


def test_a_slower_reference_shows_as_every_row_looking_faster_at_once():
    """reference_shift: the median row's change in its p50 ratio; a slower reference divides
    every ratio alike, noise moves rows both ways."""
    def bench(*ratios: float) -> dict:
        rows = [row("teacher/pytorch/cpu", latency=[shape(1, 64, 1.0)], variant="teacher",
                    device="cpu")]
        rows += [row(f"v{i}/onnxruntime/cpu", latency=[shape(1, 64, r), shape(8, 64, r)],
                     variant=f"v{i}", device="cpu") for i, r in enumerate(ratios)]
        return report(*rows)

    base, gate = bench(0.5, 0.4, 0.2), Tolerances(reference_shift=0.10)
    slower = bench(0.5 / 1.25, 0.4 / 1.25, 0.2 / 1.25)  # the reference 25 % slower
    [shift] = [c for c in compare(slower, base, gate) if c.metric.startswith("reference shift")]
    assert shift.row == "teacher/pytorch/cpu" and shift.failed
    assert shift.metric == "reference shift: median p50_ratio change of 3 row(s)"
    assert shift.change == "-20.0%" and shift.limit == "drop <= 10%"
    noisy = bench(0.5 * 0.8, 0.4 * 1.05, 0.2)  # one row faster, one slower: median unmoved
    [calm] = [c for c in compare(noisy, base, gate) if c.metric.startswith("reference shift")]
    assert not calm.failed and calm.change == "+0.0%"
    assert not [c for c in compare(slower, base, Tolerances()) if "shift" in c.metric]  # opt-in


def test_the_reference_variant_on_another_backend_counts_towards_the_shift():
    """The smoke gate's one row is the teacher on ONNX Runtime: its ratio falls with a slower
    PyTorch reference like any other row's (only the reference row itself is left out)."""
    def bench(ratio: float) -> dict:
        return report(row("teacher/pytorch/cpu", latency=[shape(1, 32, 1.0)], variant="teacher",
                          backend="pytorch", device="cpu"),
                      row("teacher/onnxruntime/cpu", latency=[shape(1, 32, ratio)],
                          variant="teacher", backend="onnxruntime", device="cpu"))

    checks = compare(bench(0.2 / 1.25), bench(0.2), Tolerances(reference_shift=0.10))
    [shift] = [c for c in checks if c.metric.startswith("reference shift")]
    assert shift.failed and shift.metric == "reference shift: median p50_ratio change of 1 row(s)"


def test_the_gate_reads_the_median_round_ratio_when_both_reports_have_it():
    """The ratio of the p50s moved +30 % (a slow spell the rounds paired away): not a failure; the
    median of the round ratios moved +20 %: the failure, named by its figure."""
    def timed(p50_ratio: float, round_ratio: float) -> dict:
        return row(latency=[shape(1, 64, p50_ratio) | {"round_ratio_p50": round_ratio}])

    base = report(timed(0.50, 0.50))
    assert verdicts(compare(report(timed(0.65, 0.50)), base, Tolerances()))[-1] == (
        ID, "round_ratio_p50 geomean of 1 shape(s)", False, False)
    slower = compare(report(timed(0.50, 0.60)), base, Tolerances())
    assert [(c.metric, c.change) for c in slower if c.failed] == [
        ("round_ratio_p50 geomean of 1 shape(s)", "+20.0%")]


def test_an_older_report_without_round_ratios_is_judged_on_the_p50_ratio_and_says_so():
    new = report(row(latency=[shape(1, 64, 0.65) | {"round_ratio_p50": 0.50}]))
    old = report(row(latency=[shape(1, 64, 0.50)]))
    checks = compare(new, old, Tolerances())
    assert [(c.metric, c.failed) for c in checks if "geomean" in c.metric] == [
        ("p50_ratio geomean of 1 shape(s)", True)]
    assert [line for line in skipped(new, old, Tolerances()) if "round_ratio_p50" in line] == [
        "round_ratio_p50: skipped, a report predates it: latency is judged on p50_ratio, the "
        "ratio of the p50s (noisier)"]
    assert not [line for line in skipped(new, new, Tolerances()) if "round_ratio_p50" in line]
