"""Loading a variant runs nothing from its folder: PyTorch INT8 is rebuilt from safetensors, pruned
shapes by slimkit's installed classes, and files are checked against the manifest first. Planted
pickles and modeling files never execute."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import slimkit
from slimkit import artifacts
from slimkit.errors import RecipeError
from slimkit.inference import predict_logits
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import REPO, TEACHER_STAGE, tiny_recipe

STAGES = TEACHER_STAGE.replace("epochs: 4", "epochs: 2") + """  - kind: prune_heads
    name: pruned
    fraction: 0.5
    criterion: magnitude
  - kind: quantize
    name: pruned-int8
    mode: dynamic-int8
"""
MARKER = "open({path!r}, 'w').write('ran')\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, object]:
    from .conftest import write_sentiment_files

    tmp = tmp_path_factory.mktemp("safe")
    train, dev = write_sentiment_files(tmp)
    registry = build_registry()
    planned = plan(tiny_recipe(tmp, train, dev, stages=STAGES), registry)
    execute(planned, registry)
    return tmp / "runs" / "tiny", planned.splits.eval


def rewrite_checksums(folder: Path) -> None:
    """What an attacker who controls the whole folder does: make the manifest match."""
    manifest = json.loads((folder / artifacts.MANIFEST).read_text())
    manifest["files"] = artifacts.checksums(folder)
    (folder / artifacts.MANIFEST).write_text(json.dumps(manifest))


def copy_of(run_dir: Path, name: str, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir / name, tmp_path / name))


def test_int8_of_a_pruned_model_round_trips_through_safetensors_exactly(run):
    run_dir, rows = run
    folder = run_dir / "pruned-int8"
    assert (folder / "model_int8.safetensors").is_file()
    assert not list(folder.glob("*.pt")) and not list(folder.glob("*.bin"))
    manifest = artifacts.read_manifest(folder)
    assert manifest.int8_format["dtype"] == "qint8" and manifest.quantization.mode == "dynamic-int8"
    loaded = artifacts.load_variant(folder)
    linears = [m for m in loaded.model.modules() if type(m).__name__ == "Linear"
               and type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")]
    heads = [layer.attention.self.query.weight().shape[0] for layer in loaded.model.bert.encoder.layer]
    stored = loaded.config.heads_per_layer  # a global half of 4 layers x 4 heads, of size 8
    assert len(linears) > 0 and sum(stored) == 8 and heads == [8 * h for h in stored]
    logits = predict_logits(loaded.model, loaded.tokenizer, rows, 24)
    accuracy = float((logits.argmax(axis=1) == np.array(rows.labels)).mean())
    assert accuracy == manifest.metrics["accuracy"]


def test_a_planted_pickle_is_refused_and_never_unpickled(run, tmp_path):
    folder = copy_of(run[0], "pruned-int8", tmp_path)
    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return exec, (MARKER.format(path=str(marker)),)

    (folder / "model_int8.safetensors").unlink()
    (folder / "pytorch_model_int8.pt").write_bytes(pickle.dumps(Payload()))
    manifest = json.loads((folder / artifacts.MANIFEST).read_text())
    manifest["artifact"] = "pytorch_model_int8.pt"
    (folder / artifacts.MANIFEST).write_text(json.dumps(manifest))
    rewrite_checksums(folder)
    with pytest.raises(RecipeError, match="holds a pickled model .* no longer loads"):
        artifacts.load_variant(folder)
    assert not marker.exists()


def test_a_planted_modeling_file_never_runs(run, tmp_path):
    folder = copy_of(run[0], "pruned", tmp_path)
    marker = tmp_path / "modeling-ran"
    (folder / "slimkit_pruned.py").write_text(MARKER.format(path=str(marker)))
    # as received: the checksum no longer matches, one line, exit 2, before anything loads
    out = subprocess.run([sys.executable, "-c", "import slimkit.cli, sys; sys.exit(slimkit.cli.main("
                          f"['profile', {str(tmp_path)!r}, '--variants', 'pruned']))"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "slimkit_pruned.py is missing or changed since it was written" in out.stderr
    # even with the manifest rewritten to match, the installed class builds the model
    rewrite_checksums(folder)
    # (another test in this process may have loaded a folder with trust_remote_code on purpose)
    remote_before = {m for m in sys.modules if m.startswith("transformers_modules")}
    reference = slimkit.load(run[0] / "pruned")
    loaded = slimkit.load(folder)
    assert not marker.exists()
    assert type(loaded.model).__module__ == "slimkit.safe_load"  # not transformers_modules.*
    assert {m for m in sys.modules if m.startswith("transformers_modules")} == remote_before
    assert loaded.predict(["the film was great", "awful plot"]) == \
        reference.predict(["the film was great", "awful plot"])
