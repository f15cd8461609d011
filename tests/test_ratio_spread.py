"""benchmarks/ratio_spread.py: which latency figure moves less between unchanged benches."""

from __future__ import annotations

import json

from benchmarks.ratio_spread import main, spreads
from benchmarks.report import SCHEMA


def bench(p50_ratio: float, round_ratio: float | None) -> dict:
    entry = {"batch_size": 1, "seq_len": 64, "p50_ratio": p50_ratio}
    if round_ratio is not None:
        entry["round_ratio_p50"] = round_ratio
    reference = {"id": "teacher/pytorch/cpu", "status": "ok",
                 "latency": [{"batch_size": 1, "seq_len": 64, "p50_ratio": 1.0}]}
    row = {"id": "student/onnxruntime/cpu", "status": "ok", "latency": [entry]}
    return {"schema": SCHEMA, "reference": "teacher", "settings": {}, "rows": [reference, row]}


def test_each_figure_gets_its_spread_and_the_reference_row_none():
    table = spreads([bench(0.9, 1.0), bench(1.0, 1.0), bench(1.1, 1.0)])
    assert table == [
        ["student/onnxruntime/cpu", "b1/s64", "p50_ratio", "3", "1.0000", "10.0%", "-10.0% to +10.0%"],
        ["student/onnxruntime/cpu", "b1/s64", "round_ratio_p50", "3", "1.0000", "0.0%",
         "+0.0% to +0.0%"]]


def test_a_figure_missing_from_one_report_is_left_out():
    assert [r[2] for r in spreads([bench(0.9, 1.0), bench(1.1, None)])] == ["p50_ratio"]


def test_the_command_prints_a_table_and_refuses_what_it_cannot_read(tmp_path, capsys):
    paths = []
    for i, ratio in enumerate((0.5, 0.6)):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps(bench(ratio, ratio)))
    assert main([str(p) for p in paths]) == 0
    assert "| student/onnxruntime/cpu | b1/s64 | round_ratio_p50 | 2 |" in capsys.readouterr().out
    assert main([str(paths[0])]) == 2  # one report has no spread
    (tmp_path / "bad.json").write_bytes(b"\xff{")
    assert main([str(paths[0]), str(tmp_path / "bad.json")]) == 2
    assert main([str(paths[0]), str(tmp_path / "missing.json")]) == 2
    (tmp_path / "other.json").write_text('{"rows": 3}')
    assert main([str(paths[0]), str(tmp_path / "other.json")]) == 2
    assert "other.json: schema is None" in capsys.readouterr().err


