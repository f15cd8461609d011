"""The typed, versioned manifest: version 1 folders are read through one conversion, anything
else fails in one line that says to re-run; stage records are fields, not open keys."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from slimkit import artifacts
from slimkit.errors import RecipeError
from slimkit.manifest import parse_manifest

from .conftest import REPO, sample_manifest


def v1(**extra) -> dict:
    """What slimkit wrote before the typed manifest (version 1)."""
    return {"manifest_version": 1, "variant": "v", "stage": "quantize", "parent": "teacher",
            "stage_config": {"kind": "quantize", "mode": "static-int8"}, "fingerprint": "f",
            "parent_fingerprint": "p", "backend": "onnxruntime", "artifact": "model.onnx",
            "recipe": {"path": "r.yaml", "sha256": "s", "text": "name: r"},
            "label_names": ["0", "1"], "max_length": 32, "eval_data": "dev.tsv", "metrics": None,
            "stage_seconds": 1.0, "parameters": None, "size_bytes": 10, "versions": {},
            "created": "2026-01-01T00:00:00+00:00", "files": {}, **extra}


@pytest.mark.parametrize(("extra", "precision"), [
    ({}, "int8 static"),
    ({"stage_config": {"kind": "quantize", "mode": "dynamic-int8"}}, "int8 dynamic"),
    ({"stage_config": {"kind": "peer"}, "peer": {"path": "optimum-intel-int8", "library": "x"}},
     "int8 static"),
    ({"stage_config": {"kind": "tensorrt"}, "tensorrt": {"precision": "int8", "kept_float": [],
                                                        "trtexec": "t"}}, "int8 q/dq"),
    ({"stage_config": {"kind": "openvino"}, "backend": "openvino",
      "backend_options": {"precision": "bf16"}}, "bf16"),
    ({"stage_config": {"kind": "onnx"}, "backend_options": None}, "fp32"),
])
def test_a_version_1_manifest_is_read_with_its_precision_worked_out_once(tmp_path, extra, precision):
    manifest = parse_manifest(v1(**extra), tmp_path)
    assert manifest.manifest_version == 2 and manifest.precision == precision
    assert manifest.lineage == ["teacher"] and manifest.data.eval is None
    assert manifest.data.eval_source == "dev.tsv"


@pytest.mark.parametrize(("raw", "says"), [
    ({**v1(), "manifest_version": 3}, "manifest version 3 is not readable"),
    ([1, 2], "not a slimkit manifest (list)"),
    ({**v1(), "surprise": 1}, "surprise: Extra inputs are not permitted"),
    ({**v1(), "label_names": "0,1"}, "label_names: Input should be a valid list"),
])
def test_anything_else_fails_in_one_line_that_says_to_re_run(tmp_path, raw, says):
    with pytest.raises(RecipeError) as caught:
        parse_manifest(raw, tmp_path / "manifest.json")
    text = str(caught.value)
    assert says in text and "re-run the recipe" in text and "\n" not in text


def test_an_unknown_stage_record_is_refused_before_it_is_written(tmp_path):
    with pytest.raises(ValidationError, match="kernel_fusion"):
        sample_manifest(kernel_fusion={"on": True})


def test_slimkit_bench_on_a_folder_of_another_version_fails_in_one_line(tmp_path):
    folder = tmp_path / "run" / "teacher"
    folder.mkdir(parents=True)
    (folder / artifacts.MANIFEST).write_text(json.dumps({**v1(), "manifest_version": 7}))
    out = subprocess.run([sys.executable, "-m", "slimkit", "bench", str(tmp_path / "run")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "manifest version 7 is not readable" in out.stderr and "re-run" in out.stderr


def test_a_folder_of_another_version_is_rebuilt_not_resumed(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / artifacts.MANIFEST).write_text(json.dumps({**v1(), "manifest_version": 0}))
    assert not artifacts.is_finished(folder, "f")
