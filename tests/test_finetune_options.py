"""Two finetune options for small pair tasks on tiny models: ``swap_pairs`` trains on each pair
both ways round, ``reinit_pooler`` draws the pooler afresh (seeded, only where one is read), and
both refuse, at validation and in one line, a recipe where they mean nothing."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from compress.finetune import reinit_pooler, with_swapped_pairs
from slimkit.data import Dataset

from .conftest import tiny_recipe
from .test_pairs_and_pruned_exports import pair_recipe, run


def test_swapped_pairs_follow_the_rows_with_each_pair_reversed():
    rows = Dataset(["a1", "b1", "c1"], ["a2", "b2", "c2"], [0, 1, 1], ["0", "1"], "x")
    both = with_swapped_pairs(rows)
    assert both.texts == ["a1", "b1", "c1", "a2", "b2", "c2"]
    assert both.text_pairs == ["a2", "b2", "c2", "a1", "b1", "c1"]
    assert both.labels == [0, 1, 1, 0, 1, 1]


def test_swap_pairs_trains_on_twice_the_sampled_pairs(tmp_path):
    stage = """
  - kind: finetune
    name: teacher
    epochs: 1
    batch_size: 20
    max_train_samples: 100
    swap_pairs: true
"""
    manifest = run(pair_recipe(tmp_path, stage))["teacher"]
    training = manifest["training"]
    assert training["training_rows"] == 200 and training["steps"] == 10


@pytest.mark.parametrize("stage_setup", ["bert", "albert", "deberta-v2"], indirect=True)
def test_the_pooler_is_drawn_afresh_seeded_and_nothing_else_moves(stage_setup):
    parent, _, _ = stage_setup
    model, again = copy.deepcopy(parent.model), copy.deepcopy(parent.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reinit_pooler(model, seed=5)
    reinit_pooler(again, seed=5)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all("pooler" in k for k in changed)
    weights = [v for k, v in model.state_dict().items() if "pooler" in k and k.endswith("weight")]
    assert all(w.std().item() == pytest.approx(model.config.initializer_range, rel=0.2)
               for w in weights)
    assert all(not v.any() for k, v in model.state_dict().items()
               if "pooler" in k and k.endswith("bias"))
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def validate(recipe) -> str:
    out = subprocess.run([sys.executable, "-m", "slimkit", "validate", str(recipe)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    [line] = out.stderr.strip().splitlines()
    return line


def test_swap_pairs_without_a_pair_column_fails_at_validation(tmp_path, sentiment_files):
    stage = '\n  - {"kind": "finetune", "name": "teacher", "swap_pairs": true}\n'
    line = validate(tiny_recipe(tmp_path, *sentiment_files, stages=stage))
    assert "swap_pairs: there is no second text to swap: data.text_pair is unset" in line, line


def test_reinit_pooler_on_a_family_without_one_fails_at_validation(tmp_path, sentiment_files):
    stage = '\n  - {"kind": "finetune", "name": "teacher", "reinit_pooler": true}\n'
    line = validate(tiny_recipe(tmp_path, *sentiment_files, architecture="roberta", stages=stage))
    assert "reinit_pooler: a roberta classifier reads no pooler" in line, line
