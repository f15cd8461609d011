"""The bold row of report.md and runs/<recipe>/best are one function's answer (search.pick)."""

from __future__ import annotations

import json

from benchmarks.best import apply_search
from benchmarks.report import best_in_budget, markdown, write_report
from slimkit.settings import SearchConfig

from .test_search import synthetic_report


def test_the_report_bold_row_skips_what_the_search_would_not_publish():
    # 'student' is faster and within budget, but only as a non-native row (not deployable as
    # is), and 'peer-int8' is faster still, but a peer: neither may be the bold row
    best = best_in_budget(synthetic_report())
    assert best == {"cpu": {"id": "student-ov-int8/openvino/cpu", "metric": "accuracy",
                            "value": 0.891, "floor": best["cpu"]["floor"], "batch_size": 1,
                            "seq_len": 64, "p50_ratio": 0.12}}


def test_a_search_with_other_settings_moves_the_bold_row_to_what_it_publishes(tmp_path):
    run = tmp_path / "x"
    for name in ("teacher", "tiny-int8", "student-ov-int8"):
        (run / name).mkdir(parents=True)
        (run / name / "manifest.json").write_text(json.dumps({"variant": name}))
    report = synthetic_report()
    report["best"] = best_in_budget(report)
    write_report(report, run)
    apply_search(run, SearchConfig(budget=2.5))  # a wider budget than the benchmark block's
    published = json.loads((run / "best" / "best.json").read_text())["pick"]["id"]
    after = json.loads((run / "report.json").read_text())
    assert published == after["best"]["cpu"]["id"] == "tiny-int8/openvino/cpu"
    bold = [line for line in markdown(after).splitlines() if line.startswith("| **")]
    assert len(bold) == 1 and bold[0].startswith("| **tiny-int8**")
    # a search that picks nothing leaves no bold row either
    apply_search(run, SearchConfig(budget=0.0, backend="openvino"))
    after = json.loads((run / "report.json").read_text())
    assert after["best"] == {}
    assert not [line for line in markdown(after).splitlines() if line.startswith("| **")]
