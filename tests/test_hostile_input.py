"""Hostile recipe, tolerances and data files fail with one line and exit 2, write nothing, and do
not hang: not UTF-8, too large, nested too deep, aliases that expand exponentially; and a key
given twice, which YAML parsers otherwise resolve silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry

from .conftest import tiny_recipe


def billion_laughs() -> str:
    """Ten levels of nine aliases each: 9**10 values once expanded, 1 KB of text."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\nname: laughs\nmodel: minilm-l6\nstages: [*j]\n"


HOSTILE = {
    "not-utf8": (b"name: x\nmodel: minilm-l6\ndata:\n  eval: caf\xe9.tsv\n",
                 "not UTF-8 (byte 0xe9 on line 4)"),
    "billion-laughs": (billion_laughs().encode(), "aliases expand to more than 20,000 values"),
    "deep-flow": (b"name: x\nmodel: " + b"[" * 5000 + b"]" * 5000 + b"\n",
                  "nested more than 32 levels deep"),
    "deep-block": ("name: x\n" + "".join(" " * i + f"k{i}:\n" for i in range(200))).encode(),
    "recursive-alias": (b"name: x\nstages: &s [*s]\n", "an alias refers to a node that contains it"),
    "huge": (b"name: x\n" + b"# padding\n" * 30_000, "over the 262,144-byte limit"),
    # not hostile, but as silent: PyYAML would keep the second and drop the first
    "duplicate-key": (b"name: x\nmodel: minilm-l6\nstages:\n  - kind: finetune\n    epochs: 3\n"
                      b"    epochs: 1\n", "'epochs' is given twice (lines 5 and 6) (keep one of them)"),
}
HOSTILE["deep-block"] = (HOSTILE["deep-block"], "nested more than 32 levels deep")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # the timeout only catches a hang (the alias bomb took minutes before the bound)
    return subprocess.run([sys.executable, "-m", "slimkit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_recipe_is_one_line_exit_2_and_writes_nothing(kind, tmp_path):
    content, expected = HOSTILE[kind]
    (tmp_path / "recipe.yaml").write_bytes(content)
    for command in ("validate", "run"):
        out = cli(command, "recipe.yaml", cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith("error: recipe.yaml: ") and expected in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


@pytest.mark.parametrize("kind", ["not-utf8", "billion-laughs", "deep-flow", "huge"])
def test_hostile_tolerances_file_is_one_line_exit_2(kind, tmp_path):
    content, expected = HOSTILE[kind]
    (tmp_path / "tolerances.yaml").write_bytes(content)
    out = cli("compare", "a.json", "b.json", "--tolerances", "tolerances.yaml", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "tolerances.yaml: " in out.stderr and expected in out.stderr


def test_ordinary_aliases_still_work(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files)
    text = recipe.read_text().replace("    epochs: 4", "    epochs: &e 4\n    evals_per_epoch: *e")
    recipe.write_text(text)
    assert plan(recipe, build_registry()).stages[0].evals_per_epoch == 4


def data_recipe(tmp_path: Path, train: str, extra: str = "") -> Path:
    """A recipe whose train rows are ``train`` (a file beside it) and eval rows a good TSV."""
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\t0\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(f"name: t\nmodel: {{architecture: bert, hidden_size: 8, num_hidden_layers: 1, "
                    f"num_attention_heads: 2, intermediate_size: 8}}\ndata:\n  train: {train}\n"
                    f"  eval: dev.tsv\n{extra}stages:\n  - kind: finetune\n")
    return path


@pytest.mark.parametrize("name, content, extra, expected", [
    ("long.tsv", "sentence\tlabel\n" + "x" * 200_000 + "\t1\n", "",
     "data.train: {dir}/long.tsv row 2: line of 200,002 characters, over data.max_row_chars"),
    ("big.tsv", "sentence\tlabel\n" + "good film\t1\n" * 100_000, "  max_file_mb: 1\n",
     "data.train: {dir}/big.tsv: 1.2 MB is over data.max_file_mb (1 MB)"),
    ("deep.jsonl", '{"sentence": ' + "[" * 40_000 + "]" * 40_000 + ', "label": "1"}\n', "",
     "data.train: {dir}/deep.jsonl row 1: JSON nested too deep"),
    ("quote.csv", 'sentence,label\n"unclosed,1\n' + "more,0\n" * 10, "",
     "data.train: {dir}/quote.csv row "),
])
def test_hostile_data_files_are_one_clear_error(tmp_path, name, content, extra, expected):
    (tmp_path / name).write_text(content)
    with pytest.raises(RecipeError) as caught:
        plan(data_recipe(tmp_path, name, extra), build_registry())
    assert expected.format(dir=tmp_path) in str(caught.value)
    assert "\n" not in str(caught.value)
