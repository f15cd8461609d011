"""Distillation end to end through the runner on tiny models."""

import pytest
import torch

import slimkit
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import ARCHITECTURES, schedule, seed_teacher, tiny_recipe

PIPELINE = """
  - kind: finetune
    name: teacher
    epochs: {epochs}
    learning_rate: {rate}
    batch_size: 16
  - kind: distill
    name: student
    layers: every_other
    epochs: {epochs}
    learning_rate: {rate}
    batch_size: 16
"""


def run(recipe):
    registry = build_registry()
    return {m.variant: m.to_json() for m in execute(plan(recipe, registry), registry)}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_other_layer_student_learns_and_loads_plainly(tmp_path, sentiment_files, architecture,
                                                            teacher_for):
    from transformers import AutoModelForSequenceClassification

    epochs, rate = schedule(architecture)
    recipe = tiny_recipe(tmp_path, *sentiment_files, architecture=architecture,
                         stages=PIPELINE.format(epochs=epochs, rate=rate))
    seed_teacher(tmp_path, teacher_for(architecture))
    made = run(recipe)
    student, teacher = made["student"], made["teacher"]
    assert student["distillation"]["student_layers_from_parent"] == [0, 2]
    assert student["distillation"]["layer_map"] == [2, 4]
    assert student["metrics"]["accuracy"] >= 0.9
    if architecture != "albert":  # ALBERT shares one layer: depth costs no parameters
        assert student["parameters"] < teacher["parameters"]
    folder = tmp_path / "runs" / "tiny" / "student"
    plain = AutoModelForSequenceClassification.from_pretrained(folder)
    assert plain.config.num_hidden_layers == 2 and not student.get("custom_code")


def test_prune_then_recover_from_the_original_teacher(tmp_path, sentiment_files):
    stages = PIPELINE.format(epochs=4, rate="3.0e-3") + """
  - kind: prune_heads
    name: pruned
    fraction: 0.5
  - kind: distill
    name: recovered
    teacher: teacher
    epochs: 2
    learning_rate: 1.0e-3
    batch_size: 16
  - kind: distill
    name: cached
    parent: teacher
    layers: [0, 3]
    gamma: 0
    cache_teacher_logits: true
    epochs: 3
    learning_rate: 3.0e-3
    batch_size: 16
"""
    made = run(tiny_recipe(tmp_path, *sentiment_files, stages=stages))
    pruned, recovered = made["pruned"], made["recovered"]
    assert sum(pruned["pruning"]["heads_per_layer"]) == 4
    assert recovered["distillation"]["teacher"] == "teacher"
    assert recovered["custom_code"] and recovered["parameters"] == pruned["parameters"]
    assert recovered["metrics"]["accuracy"] >= 0.9
    assert made["cached"]["distillation"]["student_layers_from_parent"] == [0, 3]
    assert made["cached"]["metrics"]["accuracy"] >= 0.9
    variant = slimkit.load(tmp_path / "runs" / "tiny" / "recovered")
    assert variant.predict(["the film was great", "a boring plot"]) == ["1", "0"]


def test_random_init_student_differs_from_the_copied_one(tmp_path, sentiment_files):
    from compress.distill import DistillConfig
    from compress.distill_loss import build_student
    from slimkit.models import load_base
    from slimkit.stage import Variant

    planned = plan(tiny_recipe(tmp_path, *sentiment_files), build_registry())
    model, tokenizer = load_base(planned.recipe.model, ["0", "1"], seed=0)
    parent = Variant("t", model, tokenizer)
    copied, _ = build_student(parent, DistillConfig(layers="every_other"), seed=0)
    fresh, _ = build_student(parent, DistillConfig(layers="every_other", init="random"), seed=0)
    key = "bert.encoder.layer.1.attention.self.query.weight"
    teacher_layer_2 = model.state_dict()["bert.encoder.layer.2.attention.self.query.weight"]
    assert torch.equal(copied.state_dict()[key], teacher_layer_2)
    assert not torch.equal(fresh.state_dict()[key], copied.state_dict()[key])


def test_bad_distill_settings_fail_at_validation(tmp_path, sentiment_files):
    stages = """
  - kind: distill
    layers: [0, 9]
"""
    with pytest.raises(RecipeError, match=r"stages\[0\].layers: layers \[0, 9\] must be increasing"):
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
    stages = """
  - kind: distill
    cache_teacher_logits: true
"""
    with pytest.raises(RecipeError, match="cache_teacher_logits saves nothing"):
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
    stages = """
  - kind: prune_heads
    heads_per_layer: 16
"""
    with pytest.raises(RecipeError, match=r"heads_per_layer: 16 heads to prune out of 4 per layer"):
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
