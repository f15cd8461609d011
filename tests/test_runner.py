"""The runner end to end on a tiny model: manifests, checksums, resume, interruption, determinism."""

import json
import subprocess
import sys

import pytest

from benchmarks.seed_table import collect, markdown, summarize
from slimkit import artifacts
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.run_lock import LOCK
from slimkit.runner import build_registry, execute, stage_fingerprint

from .conftest import REPO, TEACHER_STAGE, tiny_recipe

TWO_STAGES = """
  - kind: finetune
    name: teacher
    epochs: 2
    learning_rate: 3.0e-3
    batch_size: 16
    evals_per_epoch: 2
  - kind: import
    name: copy
"""


def run(recipe, **kwargs):
    registry = build_registry()
    return [m.to_json() for m in execute(plan(recipe, registry), registry, **kwargs)]


def test_manifest_records_lineage_checksums_metrics_and_versions(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TWO_STAGES)
    teacher, copy = run(recipe)
    folder = tmp_path / "runs" / "tiny" / "teacher"
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(teacher, default=str))
    assert teacher["parent"] == "base" and copy["parent"] == "teacher"
    assert copy["parent_fingerprint"] == teacher["fingerprint"]
    assert teacher["stage_config"]["learning_rate"] == 3.0e-3
    assert teacher["recipe"]["text"] == recipe.read_text()
    assert teacher["recipe"]["sha256"] == artifacts.sha256_json(recipe.read_text())
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(teacher["files"])
    artifacts.verify_checksums(folder, artifacts.read_manifest(folder))
    assert on_disk["manifest_version"] == 2
    assert teacher["lineage"] == ["base"] and copy["lineage"] == ["base", "teacher"]
    assert teacher["backend"] == "pytorch" and teacher["precision"] == "fp32"
    # the rows by content: the eval rows are the validation rows here, the train rows differ
    assert teacher["data"]["eval"] == teacher["data"]["validation"] != teacher["data"]["train"]
    assert len(teacher["data"]["eval"]) == 64
    assert teacher["versions"]["torch"] and teacher["versions"]["transformers"]
    assert set(teacher["metrics"]) >= {"accuracy", "f1", "per_class", "confusion_matrix"}
    assert len(teacher["training"]["history"]) == 4
    # the import stage copies the weights unchanged, so it scores the same
    assert copy["metrics"]["accuracy"] == teacher["metrics"]["accuracy"]
    assert copy["files"]["model.safetensors"] == teacher["files"]["model.safetensors"]
    summary = json.loads((tmp_path / "runs" / "tiny" / "summary.json").read_text())
    assert [row["variant"] for row in summary["variants"]] == ["teacher", "copy"]


def test_second_run_skips_finished_stages_and_a_changed_stage_is_redone(
        tmp_path, sentiment_files, caplog):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TWO_STAGES)
    first = run(recipe)
    caplog.set_level("INFO")
    second = run(recipe)
    assert [m["created"] for m in second] == [m["created"] for m in first]
    assert caplog.text.count("finished earlier with the same inputs, skipped") == 2

    recipe.write_text(recipe.read_text().replace("epochs: 2", "epochs: 1"))
    caplog.clear()
    third = run(recipe)
    assert len(third[0]["training"]["history"]) == 2
    assert third[1]["parent_fingerprint"] == third[0]["fingerprint"] != first[0]["fingerprint"]
    assert "skipped" not in caplog.text  # the child of a changed stage is stale too


def test_a_field_a_newer_slimkit_adds_keeps_the_fingerprint_and_the_kind_counts():
    from compress.finetune import FinetuneConfig
    from export.onnx import OnnxConfig
    from export.openvino import OpenVinoConfig

    class Newer(FinetuneConfig):
        added_later: bool = False

    raw = {"kind": "finetune", "name": "t", "epochs": 2, "learning_rate": 1e-4}
    assert stage_fingerprint(Newer(**raw), "p") == stage_fingerprint(FinetuneConfig(**raw), "p")
    assert stage_fingerprint(Newer(**raw, added_later=True), "p") != \
        stage_fingerprint(FinetuneConfig(**raw), "p")
    assert stage_fingerprint(FinetuneConfig(**raw), "p") != stage_fingerprint(
        FinetuneConfig(**raw), "q")  # the parent counts
    # two kinds with every field at its default differ by their kind alone
    assert stage_fingerprint(OnnxConfig(kind="onnx", name="x"), "p") != \
        stage_fingerprint(OpenVinoConfig(kind="openvino", name="x"), "p")


def test_interrupted_run_keeps_finished_stages_and_redoes_the_unfinished(
        tmp_path, sentiment_files, monkeypatch, caplog):
    from compress import import_model

    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TWO_STAGES)

    def interrupted(self, parent, ctx):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(import_model.Import, "run", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run(recipe)
    run_dir = tmp_path / "runs" / "tiny"
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK, "teacher"]
    teacher_created = artifacts.read_manifest(run_dir / "teacher").created

    caplog.set_level("INFO")
    teacher, copy = run(recipe)
    assert teacher["created"] == teacher_created
    assert "teacher: finished earlier" in caplog.text and "copy: running import" in caplog.text
    assert copy["metrics"]["accuracy"] == teacher["metrics"]["accuracy"]


def test_sigterm_ends_a_run_in_one_line_like_ctrl_c(tmp_path, sentiment_files):
    """`kill`, a CI timeout or a container stopping sends SIGTERM: the run unwinds as on Ctrl-C
    (one line, nothing half-written), with the exit status of a SIGTERM, 128 + 15."""
    import signal

    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TWO_STAGES.replace("epochs: 2", "epochs: 500"))
    process = subprocess.Popen([sys.executable, "-m", "slimkit", "run", str(recipe)], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # the teacher is training: the stage's temporary folder exists
        if "teacher: running finetune" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 143
    assert rest.strip().splitlines()[-1] == \
        "interrupted: finished stages are kept; run again to resume"
    assert "Traceback" not in rest
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == [LOCK]


def test_sigterm_after_openvino_static_int8_still_ends_in_one_line(tmp_path, sentiment_files):
    """NNCF's static INT8 leaves a freed alternate signal stack behind (slimkit.signal_stack):
    a SIGTERM in the next stage ended the run with a segmentation fault, lock and scratch left."""
    import signal

    pytest.importorskip("nncf")
    stages = TWO_STAGES.replace("  - kind: import\n    name: copy\n", """  - kind: openvino
    name: teacher-openvino
  - kind: quantize
    name: teacher-openvino-int8
    parent: teacher-openvino
    mode: static-int8
    calibration_rows: 8
  - kind: finetune
    name: long
    parent: teacher
    epochs: 500
    learning_rate: 1.0e-4
    batch_size: 16
""")
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=stages)
    process = subprocess.Popen([sys.executable, "-m", "slimkit", "run", str(recipe)], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "long: running finetune" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 143, rest[-2000:]
    assert rest.strip().splitlines()[-1] == \
        "interrupted: finished stages are kept; run again to resume"


def test_main_runs_from_a_worker_thread_and_leaves_sigterm_alone(tmp_path, sentiment_files, capsys):
    """Only the main thread may set signal handlers: a caller's worker thread still gets a result,
    and the process's own SIGTERM handling is untouched."""
    import signal
    import threading

    from slimkit.cli import main

    recipe = tiny_recipe(tmp_path, *sentiment_files)
    before = signal.getsignal(signal.SIGTERM)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(rc=main(["validate", str(recipe)])))
    worker.start()
    worker.join(timeout=60)
    assert outcome == {"rc": 0}
    assert ": ok in " in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before


def test_same_seed_gives_the_same_metrics_and_weights(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files)
    first = run(recipe, out_dir=str(tmp_path / "a"))
    second = run(recipe, out_dir=str(tmp_path / "b"))
    assert first[0]["metrics"] == second[0]["metrics"]
    assert first[0]["training"]["history"] == second[0]["training"]["history"]
    assert first[0]["files"]["model.safetensors"] == second[0]["files"]["model.safetensors"]


def test_the_best_evaluated_checkpoint_is_the_one_saved(tmp_path, sentiment_files):
    stages = """
  - kind: finetune
    name: teacher
    epochs: 3
    learning_rate: 3.0e-3
    batch_size: 16
    evals_per_epoch: 2
    max_train_samples: 160
"""
    [teacher] = run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))
    history = teacher["training"]["history"]
    assert [h["step"] for h in history] == [5, 10, 15, 20, 25, 30]  # 160 rows / 16 a batch
    best = max(h["accuracy"] for h in history)
    # validation rows are the eval rows here, so the saved model must score the best value
    assert teacher["training"]["best_metric"] == best == teacher["metrics"]["accuracy"]


def test_early_stopping_after_patience_evaluations_without_gain(tmp_path, sentiment_files):
    stages = """
  - kind: finetune
    name: teacher
    epochs: 5
    learning_rate: 1.0e-12
    evals_per_epoch: 1
    early_stopping_patience: 2
"""
    [teacher] = run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))
    training = teacher["training"]
    assert training["stopped_early"] is True
    assert len(training["history"]) == 3  # the first evaluation, then two without gain
    assert training["steps"] == 3 * 10  # 320 rows / 32 a batch, three epochs


def test_cli_run_prints_a_table_and_loads_with_one_call(tmp_path, sentiment_files):
    import slimkit

    recipe = tiny_recipe(tmp_path, *sentiment_files)
    out = subprocess.run([sys.executable, "-m", "slimkit", "-q", "run", str(recipe)],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "teacher" in out.stdout and "accuracy" in out.stdout
    variant = slimkit.load(tmp_path / "runs" / "tiny" / "teacher")
    assert variant.manifest.stage == "finetune"
    assert variant.predict(["the film was great", "a boring plot"]) == ["1", "0"]


def test_a_training_stage_is_evaluated_once_when_validation_is_the_eval_rows(
        tmp_path, sentiment_files, monkeypatch):
    import compress.training
    import slimkit.evaluation

    calls = {"fit": 0, "after": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(compress.training, "evaluate_model",
                        counted("fit", compress.training.evaluate_model))
    monkeypatch.setattr(slimkit.evaluation, "evaluate_runtime",
                        counted("after", slimkit.evaluation.evaluate_runtime))
    registry = build_registry()
    stages = TEACHER_STAGE.replace("epochs: 4", "epochs: 2")
    planned = plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), registry)
    manifest = execute(planned, registry)[0].to_json()
    assert calls == {"fit": 2, "after": 0}
    best = max(manifest["training"]["history"], key=lambda h: h["accuracy"])
    assert manifest["metrics"]["accuracy"] == best["accuracy"]
    # the reused scores are what evaluating the saved variant gives
    from backends.registry import runtime_for
    from slimkit.artifacts import load_variant
    from slimkit.evaluation import evaluate_runtime

    teacher = load_variant(tmp_path / "runs" / "tiny" / "teacher")
    again = evaluate_runtime(runtime_for(teacher), teacher.tokenizer, planned.splits.eval, 24)
    assert again["accuracy"] == manifest["metrics"]["accuracy"]
    assert again["confusion_matrix"] == manifest["metrics"]["confusion_matrix"]


def test_with_separate_validation_rows_the_stage_evaluates_on_eval_after(
        tmp_path, sentiment_files, monkeypatch):
    import slimkit.evaluation

    calls = []
    real = slimkit.evaluation.evaluate_runtime
    monkeypatch.setattr(slimkit.evaluation, "evaluate_runtime",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    train, dev = sentiment_files
    registry = build_registry()
    stages = TEACHER_STAGE.replace("epochs: 4", "epochs: 1")
    planned = plan(tiny_recipe(tmp_path, train, dev, stages=stages,
                               extra_data=f"\n  validation: {train}"), registry)
    execute(planned, registry)
    assert calls == [1]


def test_cli_seed_overrides_the_recipe_seed_and_reruns_the_stages(tmp_path, sentiment_files):
    from slimkit.cli import main

    recipe = tiny_recipe(tmp_path, *sentiment_files)
    [default] = run(recipe, out_dir=str(tmp_path / "a"))
    assert main(["-q", "run", str(recipe), "--seed", "7", "--out", str(tmp_path / "b")]) == 0
    seeded = json.loads((tmp_path / "b" / "tiny" / "teacher" / "manifest.json").read_text())
    assert seeded["recipe"]["resolved"]["seed"] == 7 != default["recipe"]["resolved"]["seed"]
    assert seeded["fingerprint"] != default["fingerprint"]
    assert seeded["files"]["model.safetensors"] != default["files"]["model.safetensors"]
    # the seed study's table reads both runs back, one column per seed
    out = subprocess.run([sys.executable, "-m", "slimkit", "run", str(recipe), "--seed", "-1"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --seed: seed: Input should be greater than or equal to 0, got -1 (fix the value)"]
    [row] = summarize(collect([tmp_path / "a" / "tiny", tmp_path / "b" / "tiny"], "accuracy"),
                      control="teacher")
    assert row["seeds"] == {3: default["metrics"]["accuracy"], 7: seeded["metrics"]["accuracy"]}
    with pytest.raises(RecipeError, match=r"--metric: no metric 'rows' \(use one of: accuracy, f1\)"):
        collect([tmp_path / "a" / "tiny"], "rows")


def test_seed_table_pairs_each_variant_with_the_control_seed_by_seed():
    scores = {"control": {1: 0.80, 2: 0.84, 3: 0.82}, "new": {1: 0.83, 2: 0.83, 3: 0.86}}
    rows = {r["variant"]: r for r in summarize(scores, control="control")}
    new = rows["new"]
    assert new["mean"] == pytest.approx(0.84) and (new["min"], new["max"]) == (0.83, 0.86)
    assert new["change"] == pytest.approx(0.02)  # +0.03, -0.01, +0.04
    assert (new["change_min"], new["change_max"]) == (pytest.approx(-0.01), pytest.approx(0.04))
    assert (new["better"], new["paired"]) == (2, 3)
    assert "+2.00 [-1.00, +4.00], better in 2/3" in markdown(list(rows.values()), "f1", "control")


def test_validate_names_each_stage_parent_the_implicit_one_too(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TWO_STAGES)
    out = subprocess.run([sys.executable, "-m", "slimkit", "validate", str(recipe)],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "teacher (finetune from base), copy (import from teacher)" in out.stdout
