"""What a benchmark block asks for is measured or listed as skipped with its reason, never dropped:
a named variant or peer that no listed backend runs is measured on its own backend."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.targets import plan_targets
from slimkit.settings import BenchmarkConfig

from .conftest import sample_manifest

# variant -> (backend it was made for, extra manifest fields)
RUN = {"teacher": ("pytorch", {}), "torch-int8": ("pytorch", {"artifact": "model_int8.safetensors",
                                                         "precision": "int8 dynamic"}),
       "onnx": ("onnxruntime", {}), "onnx-int8": ("onnxruntime", {}),
       "ov": ("openvino", {}), "peer-onnx": ("onnxruntime", {}), "unnamed-ov": ("openvino", {})}


def run_dir(tmp_path: Path) -> Path:
    for name, (backend, extra) in RUN.items():
        (tmp_path / name).mkdir()
        manifest = sample_manifest(variant=name, backend=backend, **extra)
        (tmp_path / name / "manifest.json").write_text(json.dumps(manifest.to_json()))
    return tmp_path


def planned(tmp_path: Path, **settings) -> tuple[set[str], dict[str, str]]:
    cfg = BenchmarkConfig(**{"devices": ["cpu"], **settings})
    targets, skipped = plan_targets(run_dir(tmp_path), cfg)
    return {t.key for t in targets}, {f"{s.variant}/{s.backend}/{s.device}": s.reason
                                      for s in skipped}


def test_named_variants_and_peers_run_on_their_own_backend_when_none_listed_runs_them(tmp_path):
    measured, skipped = planned(tmp_path, backends=["pytorch"],
                                variants=["torch-int8", "onnx-int8", "ov"], peers=["peer-onnx"])
    assert measured == {"teacher/pytorch/cpu", "torch-int8/pytorch/cpu", "onnx-int8/onnxruntime/cpu",
                        "ov/openvino/cpu", "peer-onnx/onnxruntime/cpu"}
    # every other backend of a named variant is reported, with why
    assert skipped == {
        "teacher/onnxruntime/cpu": "onnxruntime is not in benchmark.backends ['pytorch']",
        "teacher/openvino/cpu": "openvino is not in benchmark.backends ['pytorch']",
        "onnx-int8/openvino/cpu": "openvino is not in benchmark.backends ['pytorch']",
        "peer-onnx/openvino/cpu": "openvino is not in benchmark.backends ['pytorch']"}


def test_without_a_variant_list_every_variant_is_measured_or_skipped(tmp_path):
    measured, skipped = planned(tmp_path, backends=["onnxruntime"])
    assert measured == {"teacher/pytorch/cpu", "teacher/onnxruntime/cpu", "onnx/onnxruntime/cpu",
                        "onnx-int8/onnxruntime/cpu", "peer-onnx/onnxruntime/cpu"}
    for key in ("torch-int8/pytorch/cpu", "ov/openvino/cpu", "unnamed-ov/openvino/cpu",
                "onnx/openvino/cpu"):
        assert skipped[key].endswith("is not in benchmark.backends ['onnxruntime']"), key
    assert measured.isdisjoint(skipped)


def test_cuda_rows_are_planned_the_same_on_any_machine(tmp_path, monkeypatch):
    """Whether CUDA exists is one function; both answers are planned here on every machine."""
    from benchmarks import targets

    folder = run_dir(tmp_path)
    cfg = BenchmarkConfig(devices=["cpu", "cuda"], backends=["pytorch", "openvino"],
                          variants=["torch-int8", "ov"])
    monkeypatch.setattr(targets, "cuda_problem", lambda: "no CUDA here")
    measured, skipped = targets.plan_targets(folder, cfg)
    cpu_rows = {"teacher/pytorch/cpu", "teacher/openvino/cpu", "torch-int8/pytorch/cpu",
                "ov/openvino/cpu"}
    assert {t.key for t in measured} == cpu_rows
    assert [(s.variant, s.backend, s.device, s.reason) for s in skipped
            if s.device == "cuda"] == [("*", "*", "cuda", "no CUDA here")]
    monkeypatch.setattr(targets, "cuda_problem", lambda: None)
    measured, skipped = targets.plan_targets(folder, cfg)
    assert {t.key for t in measured} == cpu_rows | {"teacher/pytorch/cuda"}
    reasons = {f"{s.variant}/{s.backend}/{s.device}": s.reason for s in skipped}
    assert reasons["torch-int8/pytorch/cuda"] == "dynamic INT8 kernels of PyTorch / INC run on CPU only"
    assert reasons["ov/openvino/cuda"] == "OpenVINO targets Intel devices, not CUDA"


def test_the_measurement_process_is_slimkits_worker_even_beside_a_same_named_package(tmp_path):
    """A user's own benchmarks/worker.py in the current folder must not run in its place."""
    import subprocess

    from benchmarks.harness import worker_command

    planted = tmp_path / "benchmarks"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "worker.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    out = subprocess.run(worker_command(spec, tmp_path / "out.json"), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert not (tmp_path / "ran").exists()
    # slimkit's worker ran, and refused the empty spec with its own error
    assert out.returncode != 0 and "KeyError" in out.stderr and "benchmarks/worker.py" in out.stderr


def test_a_new_backend_is_one_class_and_one_registry_entry(tmp_path, monkeypatch):
    """What the README's contributor section shows: a Backend subclass, listed in the registry,
    is planned on every variant it runs, skipped with its own reason elsewhere, and accepted by
    name in benchmark.backends; nothing else is edited."""
    from backends import registry
    from backends.base import Backend
    from benchmarks import targets

    class Faster(Backend):
        name, devices = "faster", ("cpu",)

        def runs(self, manifest):
            return manifest.backend in ("faster", "onnxruntime")

    shipped = registry.backends()
    monkeypatch.setattr(targets, "backends", lambda: registry.Backends([*shipped, Faster()]))
    measured, skipped = planned(tmp_path, backends=["pytorch", "faster"], devices=["cpu", "cuda"])
    assert {"onnx/faster/cpu", "onnx-int8/faster/cpu", "peer-onnx/faster/cpu"} <= measured
    assert not {key for key in measured if key.startswith(("ov/", "teacher/faster"))}
    if "*/*/cuda" not in skipped:  # a CUDA machine plans the device rows one by one
        assert skipped["onnx/faster/cuda"] == "faster runs on CPU only"
