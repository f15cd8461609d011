"""The gate's paired significance test on hand-built reports: a real 2-point drop on SST-2-sized
rows fails, a reshuffle of which rows are right (same count) does not, a drop past the limit on
a small eval set that chance explains is shown but passes, and old reports without per-row
predictions are judged on points and say so."""

from __future__ import annotations

import copy
import json
from xml.etree import ElementTree

import numpy as np
import pytest

from benchmarks.compare import compare, skipped
from benchmarks.gate_output import render
from benchmarks.paired import accuracy_test, decode, encode, f1_test
from slimkit.settings import Tolerances

ID = "student/onnxruntime/cpu"


def reports(labels: list[int], was: list[int], now: list[int]) -> tuple[dict, dict]:
    def report(predictions: list[int]) -> dict:
        accuracy = float(np.mean(np.array(predictions) == np.array(labels)))
        from slimkit.metrics import classification_metrics

        f1 = classification_metrics(labels, predictions, ["neg", "pos"])["f1"]
        return {"reference": "teacher",
                "eval_rows": {"sha256": "x", "classes": 2, "labels": encode(labels)},
                "rows": [{"id": ID, "status": "ok", "predictions": encode(predictions),
                          "quality": {"accuracy": accuracy, "f1": f1}, "latency": []}]}
    return report(now), report(was)


def sst2_like(rows: int = 872, right: float = 0.89, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    predictions = np.where(rng.random(rows) < right, labels, 1 - labels)
    return labels.tolist(), predictions.tolist()


def flip_right_rows(labels: list[int], predictions: list[int], count: int) -> list[int]:
    out = list(predictions)
    right = [i for i, (y, p) in enumerate(zip(labels, predictions, strict=True)) if y == p]
    for i in right[:count]:
        out[i] = 1 - out[i]
    return out


def quality(checks) -> dict:
    return {c.metric: c for c in checks if c.metric in ("accuracy", "f1")}


def test_a_two_point_drop_on_sst2_sized_rows_is_significant_and_fails():
    labels, was = sst2_like()
    now = flip_right_rows(labels, was, 18)  # 18 of 872 rows: -2.06 pt
    new, base = reports(labels, was, now)
    checks = quality(compare(new, base, Tolerances()))
    assert checks["accuracy"].failed and checks["f1"].failed
    assert checks["accuracy"].change.startswith("-2.06 pt [")
    assert "McNemar exact, 18 rows lost / 0 gained" in checks["accuracy"].limit
    result = accuracy_test(np.array(labels), np.array(was), np.array(now), 0.05)
    assert result.p_value == pytest.approx(0.5 ** 18)
    assert result.low_pt < -2.06 / 2 and result.high_pt < 0


def test_the_same_number_of_right_rows_reshuffled_is_no_drop_and_passes():
    labels, was = sst2_like()
    rng = np.random.default_rng(1)
    right = np.array(was) == np.array(labels)
    shuffled = rng.permutation(right)  # as many right rows, others
    now = [y if ok else 1 - y for y, ok in zip(labels, shuffled, strict=True)]
    new, base = reports(labels, was, now)
    checks = quality(compare(new, base, Tolerances()))
    assert checks["accuracy"].change == "+0.00 pt" and not checks["accuracy"].failed
    result = accuracy_test(np.array(labels), np.array(was), np.array(now), 0.05)
    assert result.p_value > 0.4  # as many rows lost as gained
    assert result.low_pt < 0 < result.high_pt


def test_a_drop_past_the_limit_that_chance_explains_is_shown_but_passes():
    labels, was = sst2_like(rows=100)
    # 3 rows lost, 1 gained: -2 pt on 100 rows, past the 1-pt limit, p = 5/16
    now = flip_right_rows(labels, was, 3)
    wrong = next(i for i, (y, p) in enumerate(zip(labels, was, strict=True)) if y != p)
    now[wrong] = labels[wrong]
    new, base = reports(labels, was, now)
    accuracy = quality(compare(new, base, Tolerances()))["accuracy"]
    assert accuracy.change.startswith("-2.00 pt [") and accuracy.change.endswith("p=0.31")
    assert not accuracy.failed and accuracy.moved
    assert accuracy.limit.startswith("drop <= 1 pt, or not significant at p < 0.05")
    # the same drop judged on points alone fails
    assert quality(compare(new, base, Tolerances(significance=None)))["accuracy"].failed


def test_f1_is_tested_by_a_seeded_paired_bootstrap():
    labels, was = sst2_like()
    now = flip_right_rows(labels, was, 18)
    y, b, n = (np.array(v) for v in (labels, was, now))
    first, again = f1_test(y, b, n, 2, 0.05), f1_test(y, b, n, 2, 0.05)
    assert first == again  # seeded: the same interval every time
    assert first.change_pt < -1.5 and first.high_pt < 0 and first.p_value < 0.01
    same = f1_test(y, b, b.copy(), 2, 0.05)
    assert same.change_pt == 0 and same.p_value == 1.0


def test_reports_without_per_row_predictions_are_judged_on_points_and_say_so():
    labels, was = sst2_like()
    new, base = reports(labels, was, flip_right_rows(labels, was, 18))
    old = copy.deepcopy(base)
    del old["eval_rows"]["labels"]
    del old["rows"][0]["predictions"]
    accuracy = quality(compare(new, old, Tolerances()))["accuracy"]
    assert accuracy.failed and accuracy.limit == "drop <= 1 pt (no per-row predictions: points alone)"
    notes = skipped(new, old, Tolerances(latency_calibrated=0.2))
    assert [n.split(":")[0] for n in notes] == ["significance", "p50_calibrated"]
    assert skipped(new, base, Tolerances()) == []
    checks = compare(new, old, Tolerances())
    lines = render(checks, "markdown", notes).splitlines()
    assert [line for line in lines if line.startswith("Skipped: ")] == [f"Skipped: {n}" for n in notes]
    assert json.loads(render(checks, "json", notes))["skipped"] == notes
    suite = ElementTree.fromstring(render(checks, "junit", notes))
    assert suite.get("skipped") == "2" and len(list(suite.iter("skipped"))) == 2


def test_predictions_round_trip_one_character_a_row():
    assert encode([0, 1, 35, 2]) == "01z2" and decode("01z2").tolist() == [0, 1, 35, 2]
    assert encode([36, 0]) == [36, 0] and decode([36, 0]).tolist() == [36, 0]
    assert decode(None) is None
