"""The gate study's parts on their own: the planted slow-down (named rows only, refused when
malformed), the planted accuracy drop (right rows made wrong, rescored), and how a comparison's
verdict is judged right or wrong for each kind."""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks.compare import Check
from benchmarks.gate_study import counts, flip, judged, moves
from benchmarks.paired import decode, encode
from benchmarks.plant import ENV, Slowed, plan, planted
from slimkit.errors import SlimkitError

ROW, REF = "student/onnxruntime/cpu", "teacher/pytorch/cpu"


class Sleeper:
    threads = 2

    def logits(self, batch):
        time.sleep(0.01)
        return batch


def test_a_planted_slowdown_wraps_only_the_named_rows(monkeypatch):
    assert plan("teacher/pytorch=0.2, student/onnxruntime=1") == {"teacher/pytorch": 0.2,
                                                                  "student/onnxruntime": 1.0}
    assert plan(None) == {} and plan("") == {}
    monkeypatch.setenv(ENV, "teacher/pytorch=0.5")
    runtime = Sleeper()
    assert planted(runtime, "student/onnxruntime") is runtime
    slowed = planted(runtime, "teacher/pytorch")
    assert isinstance(slowed, Slowed) and slowed.threads == 2  # the rest passes through
    start = time.perf_counter()
    assert slowed.logits("batch") == "batch"
    assert time.perf_counter() - start >= 0.015  # a 10 ms call, then half as long again, at least


@pytest.mark.parametrize("value", ["teacher/pytorch", "teacher/pytorch=fast", "x=0", "x=11"])
def test_a_malformed_plant_is_refused(value):
    with pytest.raises(SlimkitError, match=ENV):
        plan(value)


def report(labels: list[int], predictions: list[int]) -> dict:
    accuracy = float(np.mean(np.array(labels) == np.array(predictions)))
    return {"eval_rows": {"labels": encode(labels), "classes": 2},
            "rows": [{"id": ROW, "predictions": encode(predictions),
                      "quality": {"accuracy": accuracy, "f1": 0.5}}]}


def test_a_planted_accuracy_drop_makes_two_points_of_right_rows_wrong_and_rescores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500).tolist()
    predictions = [y if rng.random() < 0.9 else 1 - y for y in labels]
    before = report(labels, predictions)
    after = flip(before, ROW, 2.0, seed=3)
    was, now = decode(predictions), decode(after["rows"][0]["predictions"])
    y = np.array(labels)
    assert np.sum(was != now) == 10  # 2 % of 500 rows
    assert np.all(was[was != now] == y[was != now])  # each was right, is now wrong
    assert after["rows"][0]["quality"]["accuracy"] == pytest.approx(
        before["rows"][0]["quality"]["accuracy"] - 0.02)
    assert before["rows"][0]["predictions"] == encode(predictions)  # the input is untouched
    assert flip(before, ROW, 2.0, seed=3) == after  # seeded


def check(row: str, metric: str, failed: bool, was: float = 1.0, now: float = 1.0) -> Check:
    return Check(row, metric, was, now, "", "", failed, failed)


def test_each_kind_is_right_only_when_the_gate_says_what_was_planted():
    calm = [check(ROW, "b1/s64 p50_ratio", False), check(REF, "b1/s64 p50_calibrated", False)]
    assert judged("unchanged", calm, [ROW], REF, None)["right"]
    slow = [check(ROW, "p50_ratio geomean of 1 shape(s)", True)]
    assert not judged("unchanged", slow, [ROW], REF, None)["right"]
    assert judged("slower rows", slow, [ROW], REF, None)["right"]
    # a slower reference path is caught on the reference's own row, not by the others' ratios
    assert not judged("slower reference", slow, [ROW], REF, None)["right"]
    ref = [check(REF, "b1/s64 p50_calibrated", False, 1.0, 1.25)]
    assert not judged("slower reference", ref, [ROW], REF, None)["right"]
    assert judged("slower reference", ref, [ROW], REF, 0.2)["right"]  # the sweep's own limit
    assert not judged("slower reference", ref, [ROW], REF, 0.3)["right"]
    drop = [check(ROW, "accuracy", True, 0.9, 0.88)]
    assert judged("accuracy -2 pt", drop, [ROW], REF, None)["right"]
    # the same drop caught by the paired F1 test alone counts; a quality failure elsewhere does not
    assert judged("accuracy -2 pt", [check(ROW, "f1", True, 0.9, 0.88)], [ROW], REF, None)["right"]
    assert not judged("accuracy -2 pt", [check(REF, "f1", True, 0.9, 0.88)], [ROW], REF,
                      None)["right"]
    assert not judged("accuracy -2 pt", slow, [ROW], REF, None)["right"]
    assert moves(ref + drop) == {f"{REF}: b1/s64 p50_calibrated": 0.25, f"{ROW}: accuracy": -2.0}
    results = [{"kind": "unchanged", "right": True}, {"kind": "unchanged", "right": False},
               {"kind": "slower rows", "right": True}, {"kind": "slower reference", "right": False},
               {"kind": "accuracy -2 pt", "right": True}]
    assert counts(results) == {"unchanged": "1/2 false alarms", "slower rows": "1/1 caught",
                               "slower reference": "0/1 caught", "accuracy -2 pt": "1/1 caught"}


def timed(row_id: str, ratio: float, accuracy: float = 0.9) -> dict:
    latency = [{"batch_size": 1, "seq_len": 64, "p50_ms": 10 * ratio, "p50_ratio": ratio,
                "p90_ratio": ratio}]
    return {"id": row_id, "status": "ok", "quality": {"accuracy": accuracy, "f1": 0.9},
            "latency": latency}


def test_rejudging_a_kept_study_runs_compare_on_its_kept_reports(tmp_path):
    from benchmarks.gate_rejudge import kept_reports, main, rejudge
    from benchmarks.gate_study import Judge
    from slimkit import atomic
    from slimkit.settings import Tolerances

    def bench(ratio: float, accuracy: float = 0.9) -> dict:
        return {"reference": "teacher", "rows": [timed(REF, 1.0), timed(ROW, ratio, accuracy)]}

    tolerances = tmp_path / "loose.yaml"
    tolerances.write_text("latency: 0.5\nsignificance: null\n")
    judge = Judge(bench(1.0), [str(tolerances)], [ROW], REF, tmp_path / "study-reports")
    for kind, new in [("unchanged", bench(1.12)), ("slower rows", bench(1.25)),
                      ("accuracy -2 pt", bench(1.0, 0.88))]:
        judge.record(kind, new)
    study = {"rows": [ROW], **judge.summary(), "reports": "study-reports"}  # as study() names it
    atomic.write_json(tmp_path / "study.json", study)
    assert sorted(p.name for p in (tmp_path / "study-reports").iterdir()) == [
        "accuracy--2-pt-0.json", "baseline.json", "slower-rows-0.json", "unchanged-0.json"]
    reports = kept_reports(tmp_path / "study.json", study)
    # the same reports, judged by compare with tighter limits: the 12 % rise is now a false alarm
    tight = rejudge(study, reports, Tolerances(latency=0.1, significance=None))
    assert tight == {"unchanged": "1/1 false alarms", "slower rows": "1/1 caught",
                     "slower reference": "0/0 caught", "accuracy -2 pt": "1/1 caught"}
    loose = rejudge(study, reports, Tolerances(latency=0.5, accuracy=5, significance=None))
    assert loose == {"unchanged": "0/1 false alarms", "slower rows": "0/1 caught",
                     "slower reference": "0/0 caught", "accuracy -2 pt": "0/1 caught"}
    assert main([str(tmp_path / "study.json"), "--tolerances", str(tolerances)]) == 0


def test_a_study_without_kept_reports_is_refused_in_one_line(tmp_path, capsys):
    from benchmarks.gate_rejudge import main

    old = tmp_path / "old.json"
    old.write_text('{"rows": [], "results": []}')
    assert main([str(old), "--tolerances", "benchmarks/baselines/tolerances.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kept no reports" in err
    assert main([str(tmp_path / "nope.json"), "--tolerances", "x.yaml"]) == 2


def test_a_bad_baseline_repeats_fails_in_one_line_before_any_bench(tmp_path, capsys):
    from benchmarks.gate_study import main

    code = main([str(tmp_path), "--rows", ROW, "--tolerances", "benchmarks/baselines/tolerances.yaml",
                 "--backends", "pytorch", "--baseline-repeats", "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--baseline-repeats" in err and "repeats" in err
    assert not (tmp_path / "o.json").exists()


def test_threads_and_spin_wait_reach_every_bench_of_the_study(tmp_path, monkeypatch):
    """``--threads 1``: the baseline and every new bench measure with one intra-op thread, and
    the study's bench settings say so (what ``compare`` checks for comparability)."""
    import benchmarks.gate_study as gate_study

    seen = []

    def fake_bench(run_dir, cfg, out, plant):
        seen.append((cfg.threads, cfg.spin_wait, cfg.repeats))
        raise SlimkitError("stop after the baseline")

    monkeypatch.setattr(gate_study, "bench_once", fake_bench)
    code = gate_study.main([str(tmp_path), "--rows", ROW, "--tolerances",
                            "benchmarks/baselines/tolerances.yaml", "--backends", "pytorch",
                            "--threads", "1", "--spin-wait", "false", "--baseline-repeats", "3",
                            "--out", str(tmp_path / "o")])
    assert code == 2 and seen == [(1, False, 3)]
