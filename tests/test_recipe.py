import json
import subprocess
import sys
from pathlib import Path

import pytest

from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.recipe import interpolate, load_recipe, read_recipe_yaml
from slimkit.runner import build_registry

from .conftest import REPO, tiny_recipe

RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))  # studies/ too


def test_interpolation_uses_the_variable_or_the_default(monkeypatch):
    monkeypatch.setenv("SK_X", "/data")
    monkeypatch.delenv("SK_Y", raising=False)
    assert interpolate({"a": ["${SK_X}/t.tsv", "${SK_Y:-../d}/t.tsv"], "n": 3}) == {
        "a": ["/data/t.tsv", "../d/t.tsv"], "n": 3}


def validate_cli(path: Path, cwd: Path) -> tuple[int, str]:
    """(exit code, stderr); how fast this is lives in benchmarks/validate_time.py, not here."""
    out = subprocess.run([sys.executable, "-m", "slimkit", "validate", str(path)], cwd=cwd,
                         capture_output=True, text=True)
    return out.returncode, out.stderr.strip()


def edit(recipe: Path, old: str, new: str) -> Path:
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new, 1))
    return recipe


@pytest.mark.parametrize("old, new, expected", [
    ("    epochs: 4", "    epocs: 4",
     "stages[0].epocs: unknown key (did you mean 'epochs'?"),
    ("    epochs: 4", "    epochs: four",
     "stages[0].epochs: Input should be a valid integer"),
    ("  - kind: finetune", "  - kind: finetun",
     "stages[0].kind: unknown stage kind 'finetun' (did you mean 'finetune'?"),
    ("  max_length: 24", "  max_length: 24\n  max_lenght: 3",
     "data.max_lenght: unknown key (did you mean 'max_length'?"),
    ("  max_length: 24", "  max_length: 4096",
     "data.max_length: 4096 exceeds the model's max_position_embeddings 512"),
    ("seed: 3", "seed: 3\nstages_extra: 1", "stages_extra: unknown key"),
    ("  max_length: 24", "  max_length: 24\n  labels: ['1']",
     "data.labels: List should have at least 2 items"),
    ("  max_length: 24", "  max_length: 24\n  labels: ['0', '1', '0']",
     "data.labels: Value error, labels lists ['0'] more than once"),
])
def test_bad_recipe_is_one_line_exit_2_and_writes_nothing(tmp_path, sentiment_files,
                                                          old, new, expected):
    recipe = edit(tiny_recipe(tmp_path, *sentiment_files), old, new)
    code, err = validate_cli(recipe, tmp_path)
    assert code == 2
    assert err.startswith(f"error: {recipe}: ")
    assert expected in err
    assert len(err.splitlines()) == 1 and "(" in err  # the fix is in brackets
    assert not (tmp_path / "runs").exists()


def test_missing_data_file_names_the_field_and_the_fix(tmp_path, sentiment_files):
    recipe = edit(tiny_recipe(tmp_path, *sentiment_files), str(sentiment_files[1]),
                  "${SK_NOPE:-/no/such}/dev.tsv")
    code, err = validate_cli(recipe, tmp_path)
    assert code == 2
    assert "data.eval: /no/such/dev.tsv: file not found (set SLIMKIT_DATA or fix the path)" in err


def test_a_train_file_of_one_label_is_refused_unless_the_recipe_lists_the_labels(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\nripe\tbanana\ngreen\tbanana\n", encoding="utf-8")
    recipe = tiny_recipe(tmp_path, train, train)
    code, err = validate_cli(recipe, tmp_path)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"data.label: {train}: the label column 'label' holds 1 distinct label(s) ['banana']" in err
    assert "(point data.label at the label column, or list every label in data.labels)" in err
    edit(recipe, "  max_length: 24", "  max_length: 24\n  labels: [apple, banana]")
    assert validate_cli(recipe, tmp_path)[0] == 0


def test_a_huge_repeated_label_list_fails_in_one_short_line(tmp_path, sentiment_files):
    names = ", ".join(f"'l{i % 7000}'" for i in range(14_000))
    recipe = edit(tiny_recipe(tmp_path, *sentiment_files), "  max_length: 24",
                  f"  max_length: 24\n  labels: [{names}]")
    code, err = validate_cli(recipe, tmp_path)
    assert code == 2 and len(err.splitlines()) == 1 and len(err) < 1_000
    assert "labels lists ['l0', 'l1', 'l10', 'l100', 'l1000'] (and 6995 others) more than once" in err


def test_run_rejects_bad_recipe_before_any_work(tmp_path, sentiment_files):
    recipe = edit(tiny_recipe(tmp_path, *sentiment_files), "learning_rate: 3.0e-3",
                  "learning_rate: -1")
    out = subprocess.run([sys.executable, "-m", "slimkit", "run", str(recipe)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "stages[0].learning_rate: Input should be greater than 0" in out.stderr
    assert not (tmp_path / "runs").exists()


def test_stage_graph_errors(tmp_path, sentiment_files):
    stages = """
  - kind: finetune
    name: teacher
  - kind: import
    name: copy
    parent: studnet
"""
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=stages)
    with pytest.raises(RecipeError, match=r"stages\[1\].parent: parent 'studnet' is not an earlier"):
        plan(recipe, build_registry())


def test_unknown_key_in_random_model_is_refused(tmp_path, sentiment_files):
    from slimkit.models import load_base

    recipe = edit(tiny_recipe(tmp_path, *sentiment_files), "hidden_size: 32",
                  "hidden_size: 32\n  num_hiden_layers: 2")
    planned = plan(recipe, build_registry())
    with pytest.raises(RecipeError, match="unknown bert config key.*num_hiden_layers"):
        load_base(planned.recipe.model, ["0", "1"], seed=0)


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_every_shipped_recipe_validates_from_any_folder(recipe, tmp_path, monkeypatch):
    """With SLIMKIT_DATA unset and the current folder elsewhere: the recipe's own paths hold."""
    monkeypatch.delenv("SLIMKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    model = read_recipe_yaml(recipe)["model"]
    if isinstance(model, str) and "/runs/" in model and not Path(model).is_dir():
        pytest.skip(f"needs {model} from an earlier recipe's run")
    planned = plan(recipe, build_registry())
    assert planned.stages and len(planned.splits.eval) > 0
    assert Path(planned.recipe.data.train).is_relative_to(REPO / "data")


def test_shipped_recipes_read_the_shipped_data_unless_slimkit_data_is_set():
    for recipe in RECIPES:
        up = "../" * len(recipe.relative_to(REPO / "recipes").parts)  # recipes/studies/ is deeper
        assert "${SLIMKIT_DATA:-" + up + "data}/" in recipe.read_text(), recipe


def test_the_readme_example_recipe_validates_where_a_user_saves_it(tmp_path, monkeypatch):
    """The README's "A recipe" block, saved in recipes/ as a user would, reads the shipped data."""
    monkeypatch.delenv("SLIMKIT_DATA", raising=False)
    block = (REPO / "README.md").read_text().split("## A recipe\n```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "recipes").mkdir()
    (tmp_path / "data").symlink_to(REPO / "data")
    saved = tmp_path / "recipes" / "mine.yaml"
    saved.write_text(block)
    planned = plan(saved, build_registry())
    assert [stage.name for stage in planned.stages] == ["teacher"]
    assert len(planned.splits.eval) == 872


SAMPLE_AMOUNTS = {"prune_heads": {"fraction": 0.5}, "prune_ffn": {"target_size": 8},
                  "prune_layers": {"drop": [1]}, "distill": {"layers": [0, 2], "gamma": 0.5},
                  "quantize": {"mode": "static-int8"}, "tensorrt": {"keep_float": ["head"]},
                  "prune_gradually": {"flops_target": 0.5,
                                      "recover": {"epochs": 2, "augment": {"multiplier": 2}}}}


def test_every_stage_config_round_trips_through_json():
    registry = build_registry()
    for kind in registry.kinds():
        cls = registry.config_class(kind, field_name="kind")
        config = cls(kind=kind, **SAMPLE_AMOUNTS.get(kind, {}))
        again = cls.model_validate(json.loads(config.model_dump_json()))
        assert again == config


def test_recipe_name_defaults_to_file_stem(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files)
    recipe.write_text(recipe.read_text().replace("name: tiny\n", ""))
    assert load_recipe(recipe).name == "recipe"


def test_list_stages_shows_fields():
    out = subprocess.run([sys.executable, "-m", "slimkit", "list-stages"], capture_output=True,
                         text=True, check=True)
    assert "finetune:" in out.stdout and "learning_rate: float" in out.stdout
    assert "import:" in out.stdout
    # a default built by a factory is shown as its value, never as pydantic's placeholder
    assert "keep_float: list['ffn_output' | 'head'] (default ['ffn_output', 'head'])" in out.stdout
    assert "Undefined" not in out.stdout
