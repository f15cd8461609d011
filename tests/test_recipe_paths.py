"""A recipe's input paths are relative to the recipe file, whatever the current folder; a value
from an environment variable is relative to the current folder; hub ids and short names stay."""

from __future__ import annotations

import json
from pathlib import Path

from slimkit.manifest import parse_manifest
from slimkit.planning import plan
from slimkit.recipe import load_recipe, recipe_of
from slimkit.recipe_paths import anchor_paths
from slimkit.runner import build_registry, execute

from .conftest import sentiment_rows, write_tsv

TINY = ("{architecture: bert, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, "
        "intermediate_size: 16}")


def recipe_in(folder: Path, data: str, model: str = TINY, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(f"name: paths\nmodel: {model}\ndata:\n{data}{extra}stages:\n"
                    "  - kind: finetune\n    epochs: 1\n    max_train_samples: 32\n")
    return path


def test_relative_data_paths_resolve_against_the_recipe_not_the_current_folder(tmp_path,
                                                                               monkeypatch):
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    write_tsv(data / "train.tsv", sentiment_rows(40, seed=1))
    write_tsv(data / "dev.tsv", sentiment_rows(10, seed=2))
    recipe = recipe_in(tmp_path / "project" / "recipes",
                       "  train: ../data/train.tsv\n  eval: ${SK_NOT_SET:-../data}/dev.tsv\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("SK_NOT_SET", raising=False)
    planned = plan(recipe, build_registry())
    assert planned.recipe.data.train == str(data / "train.tsv")
    assert planned.recipe.data.eval == str(data / "dev.tsv")
    assert len(planned.splits.train) == 40 and len(planned.splits.eval) == 10


def test_a_path_from_the_environment_is_relative_to_the_current_folder(tmp_path, monkeypatch):
    mine = tmp_path / "cwd" / "mine"
    mine.mkdir(parents=True)
    write_tsv(mine / "train.tsv", sentiment_rows(20, seed=1))
    write_tsv(mine / "dev.tsv", sentiment_rows(8, seed=2))
    recipe = recipe_in(tmp_path / "recipes", "  train: ${SK_DATA:-../data}/train.tsv\n"
                       "  eval: ${SK_DATA:-../data}/dev.tsv\n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("SK_DATA", "mine")
    assert load_recipe(recipe).data.train == str(mine / "train.tsv")


def test_model_folders_anchor_at_the_recipe_hub_ids_and_short_names_do_not(tmp_path):
    (tmp_path / "models" / "teacher").mkdir(parents=True)
    base = tmp_path / "recipes"
    (base / "local").mkdir(parents=True)
    anchored = anchor_paths({"model": "../models/teacher"}, base)
    assert anchored["model"] == str(tmp_path / "models" / "teacher")
    assert anchor_paths({"model": "local"}, base)["model"] == str(base / "local")
    assert anchor_paths({"model": "minilm-l6"}, base)["model"] == "minilm-l6"
    assert anchor_paths({"model": "org/name"}, base)["model"] == "org/name"
    stage = anchor_paths({"stages": [{"kind": "distill", "student": "../models/teacher"}]}, base)
    assert stage["stages"][0]["student"] == str(tmp_path / "models" / "teacher")
    hub = anchor_paths({"data": {"dataset": "nyu-mll/glue", "train": "train"}}, base)
    assert hub["data"]["train"] == "train"  # a split name, not a path
    published = anchor_paths({"benchmark": {"publish": "../benchmarks/results"}}, base)
    assert published["benchmark"]["publish"] == str(tmp_path / "benchmarks" / "results")


def run_with_data_beside(tmp_path: Path) -> tuple[Path, Path]:
    """A finished run (runs/paths/finetune) of a recipe whose data sits in tmp_path/data."""
    data = tmp_path / "data"
    data.mkdir()
    write_tsv(data / "train.tsv", sentiment_rows(40, seed=1))
    write_tsv(data / "dev.tsv", sentiment_rows(10, seed=2))
    recipe = recipe_in(tmp_path / "recipes", "  train: ../data/train.tsv\n  eval: ../data/dev.tsv\n",
                       extra=f"output_dir: {tmp_path / 'runs'}\n")
    registry = build_registry()
    execute(plan(recipe, registry), registry)
    return recipe, data


def test_a_run_records_its_resolved_recipe_so_bench_reads_the_same_rows(tmp_path, monkeypatch):
    recipe, data = run_with_data_beside(tmp_path)
    manifest = json.loads((tmp_path / "runs" / "paths" / "finetune" / "manifest.json").read_text())
    monkeypatch.chdir(tmp_path / "data")  # anywhere else
    folder = tmp_path / "runs" / "paths" / "finetune"
    assert recipe_of(parse_manifest(manifest, folder)).data.eval == str(data / "dev.tsv")
    # and a manifest from before the resolved copy was kept falls back to its recipe's folder
    del manifest["recipe"]["resolved"]
    manifest["recipe"]["path"] = str(recipe)
    assert recipe_of(parse_manifest(manifest, folder)).data.eval == str(data / "dev.tsv")


def test_bench_refuses_in_one_line_when_the_eval_rows_changed_since_the_run(tmp_path):
    import pytest

    from benchmarks.harness import bench
    from slimkit.errors import RecipeError
    from slimkit.settings import BenchmarkConfig

    _, data = run_with_data_beside(tmp_path)
    run_dir = tmp_path / "runs" / "paths"
    manifest = json.loads((run_dir / "finetune" / "manifest.json").read_text())
    assert len(manifest["data"]["eval"]) == 64
    write_tsv(data / "dev.tsv", sentiment_rows(10, seed=3))  # same file, other rows
    cfg = BenchmarkConfig(reference="finetune", devices=["cpu"], backends=["pytorch"],
                          batch_sizes=[1], seq_lens=[8])
    with pytest.raises(RecipeError) as caught:
        bench(run_dir, cfg, progress=False)
    text = str(caught.value)
    assert "the eval rows differ from those 'finetune' was evaluated on" in text
    assert "SLIMKIT_DATA" in text and "\n" not in text
    assert not (run_dir / "report.json").exists()
