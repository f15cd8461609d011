"""``benchmark.spin_wait: false``: the measurement processes' runtimes sleep between calls instead
of spinning (OpenMP told through OMP_WAIT_POLICY, ONNX Runtime through its session option), and
a report says so."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from slimkit.settings import BenchmarkConfig


def worker_env(monkeypatch, tmp_path: Path, spin_wait: bool) -> dict[str, str]:
    from benchmarks import harness

    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(env)
        Path(command[-1]).write_text(json.dumps({"status": "ok"}), encoding="utf-8")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(harness.subprocess, "run", fake_run)
    settings = BenchmarkConfig(spin_wait=spin_wait).model_dump(mode="json")
    harness._run_worker({"settings": settings}, tmp_path / "row", 2, 60)
    return seen


def test_sleeping_threads_are_asked_of_the_measurement_process_only_when_set(monkeypatch, tmp_path):
    assert worker_env(monkeypatch, tmp_path, False)["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in worker_env(monkeypatch, tmp_path, True)


@pytest.mark.parametrize(("policy", "spinning"), [("PASSIVE", "0"), ("passive", "0"),
                                                   ("ACTIVE", None), (None, None)])
def test_onnx_runtime_spins_as_openmp_is_told(monkeypatch, policy, spinning):
    import onnxruntime as ort

    from backends.onnxruntime import session

    kept = {}

    def fake_session(path, options, providers):
        try:
            kept["spinning"] = options.get_session_config_entry("session.intra_op.allow_spinning")
        except RuntimeError:  # never set: ONNX Runtime's default, spinning
            kept["spinning"] = None
        return object()

    if policy is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", policy)
    monkeypatch.setattr(ort, "InferenceSession", fake_session)
    session(Path("model.onnx"), 2)
    assert kept["spinning"] == spinning


def test_the_report_says_when_threads_slept_and_the_flag_reaches_the_settings():
    from benchmarks.report import markdown
    from slimkit.cli_flags import model_flags

    assert BenchmarkConfig().spin_wait is True
    assert BenchmarkConfig.model_validate({"spin_wait": "false"}).spin_wait is False
    report = {"run_dir": "runs/x", "machine": {}, "threads": 2, "reference": "teacher",
              "wall_seconds": 1.0, "rows": [],
              "settings": BenchmarkConfig(spin_wait=False).model_dump(mode="json")}
    assert "sleeping between calls (spin_wait: false)" in markdown(report)
    assert "sleeping" not in markdown({**report, "settings": BenchmarkConfig().model_dump()})
    import argparse

    assert model_flags(argparse.Namespace(spin_wait="false"), BenchmarkConfig) == {
        "spin_wait": "false"}
