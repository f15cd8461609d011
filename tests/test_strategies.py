"""Fine-tuning strategies on tiny models: the optimizer's rates are the formula's, frozen weights do
not move, gradual unfreezing wakes one layer at the configured steps, the loss options reach the
loss, checkpoints average, and invalid combinations fail at validation in one line."""

from __future__ import annotations

import copy

import pytest
import torch

from compress.finetune import FinetuneConfig
from compress.layerwise import depths, label_loss, param_groups
from compress.training import fit

from .conftest import tiny_recipe


def config(**fields) -> FinetuneConfig:
    settings = {"epochs": 1, "batch_size": 32, "learning_rate": 1e-3, "warmup_ratio": 0.0}
    return FinetuneConfig(kind="finetune", **{**settings, **fields})


@pytest.mark.parametrize("stage_setup", ["bert", "distilbert", "albert"], indirect=True)
def test_each_weight_has_a_depth_and_the_rates_follow_the_decay_formula(stage_setup):
    parent, _, _ = stage_setup
    depth, top = depths(parent.model)
    assert set(depth.values()) <= set(range(top + 2))
    assert min(depth.values()) == 0 and max(depth.values()) == top + 1
    assert all(d == top + 1 for name, d in depth.items() if "classifier" in name)
    cfg = config(lr_decay=0.5, head_learning_rate=2e-3)
    for group in param_groups(parent.model, cfg):
        d = group["depth"]
        expected = 2e-3 if d == top + 1 else 1e-3 * 0.5 ** (top - d)
        assert group["lr"] == pytest.approx(expected), d
        names = {n for n, p in parent.model.named_parameters()
                 if any(p is q for q in group["params"])}
        assert {depth[n] for n in names} == {d}


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_frozen_weights_do_not_change_and_the_rest_do(stage_setup):
    parent, ctx, _ = stage_setup
    model = copy.deepcopy(parent.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = config(freeze={"embeddings": True, "layers": 1}, max_train_samples=64)
    fit(model, parent.tokenizer, ctx.train, ctx.validation, cfg, seed=0, max_length=32)
    depth, _ = depths(model)
    moved = {n: not torch.equal(before[n], p) for n, p in model.named_parameters()}
    assert not any(moved[n] for n, d in depth.items() if d in (0, 1))
    assert all(moved[n] for n, d in depth.items() if d >= 2 and "pooler" not in n
               and n.endswith("weight"))
    assert all(p.requires_grad for p in model.parameters())  # the saved model is whole again


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_gradual_unfreezing_wakes_one_depth_every_k_steps(stage_setup):
    parent, ctx, _ = stage_setup
    model = copy.deepcopy(parent.model)
    cfg = config(gradual_unfreeze={"every_steps": 2}, max_train_samples=192)
    result = fit(model, parent.tokenizer, ctx.train, ctx.validation, cfg, seed=0, max_length=32)
    _, top = depths(model)
    assert result.steps == 6
    assert result.unfrozen == [{"step": 2 * k, "lowest_depth": top - k}
                               for k in range(min(3, top + 1))]


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_the_last_checkpoints_are_averaged_when_asked(stage_setup):
    parent, ctx, _ = stage_setup
    cfg = config(evals_per_epoch=3, average_last=3, max_train_samples=192)
    model = copy.deepcopy(parent.model)
    result = fit(model, parent.tokenizer, ctx.train, ctx.validation, cfg, seed=0, max_length=32)
    assert result.averaged == 3 and result.best_scores is None


def test_label_smoothing_and_class_weights_reach_the_loss():
    class Tiny(torch.nn.Module):
        def forward(self, **batch):
            return type("Out", (), {"logits": batch["x"]})

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert label_loss(config(), [0, 1, 1], 2) is None
    smooth = label_loss(config(label_smoothing=0.2), [0, 1, 1], 2)
    assert smooth(Tiny(), {"x": logits, "labels": labels}, None) > plain
    balanced = label_loss(config(class_weights="balanced"), [0, 1, 1], 2)
    weighted = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.5, 0.75]))
    assert balanced(Tiny(), {"x": logits, "labels": labels}, None) == pytest.approx(weighted.item())


BAD = [
    ({"lr_decay": 0}, "lr_decay: Input should be greater than 0"),
    ({"lr_decay": 1.5}, "lr_decay: Input should be less than or equal to 1"),
    ({"freeze": {}}, "freeze nothing?"),
    ({"freeze": {"head": True}}, "freeze.head: unknown key"),
    ({"freeze": {"encoder": True}, "lr_decay": 0.9}, "lr_decay has no layers to decay over"),
    ({"freeze": {"layers": 1}, "gradual_unfreeze": {"every_epoch": True}},
     "freeze and gradual_unfreeze both decide"),
    ({"gradual_unfreeze": {}}, "give exactly one of every_steps"),
    ({"scheduler": "cosinus"}, "scheduler: input should be 'linear', 'cosine' or"),
    ({"label_smoothing": 1.0}, "label_smoothing: Input should be less than 1"),
    ({"average_last": 1}, "average_last: 1 averages nothing"),
    ({"freeze": {"layers": 9}}, "freeze.layers: 9 is more than the model's 4 layers (use 0..4)"),
    ({"class_weights": [1.0]}, "class_weights: 1 class weights for 2 labels"),
]


@pytest.mark.parametrize(("fields", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_strategy_options_fail_at_validation_in_one_line(tmp_path, sentiment_files, fields,
                                                             message):
    import json
    import subprocess
    import sys

    # JSON is YAML: the stage as one flow mapping
    stage = json.dumps({"kind": "finetune", "name": "teacher", **fields})
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=f"\n  - {stage}\n",
                         extra_data='\n  labels: ["0", "1"]')
    out = subprocess.run([sys.executable, "-m", "slimkit", "validate", str(recipe)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    [line] = out.stderr.strip().splitlines()
    assert message in line, line


def test_a_trained_variant_carries_its_loss_and_validation_curves(trained_teacher):
    import json

    manifest = json.loads((trained_teacher / "manifest.json").read_text())
    curves = json.loads((trained_teacher / "training_curves.json").read_text())
    training = manifest["training"]
    assert curves["evaluations"] == training["history"] and curves["metric"] == "accuracy"
    assert curves["loss"] == training["loss_curve"] and len(curves["loss"]) >= 2
    steps = [step for step, _ in curves["loss"]]
    assert steps == sorted(steps) and steps[-1] <= training["steps"]
    assert all(loss > 0 for _, loss in curves["loss"])
    assert (trained_teacher / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert {"training_curves.json", "training_curves.png"} <= set(manifest["files"])


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_tensorboard_gets_the_loss_the_rate_and_the_validation_scores(stage_setup, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    parent, ctx, _ = stage_setup
    cfg = config(evals_per_epoch=2, max_train_samples=128, tensorboard=True)
    result = fit(copy.deepcopy(parent.model), parent.tokenizer, ctx.train, ctx.validation, cfg,
                 seed=0, max_length=32, tensorboard=tmp_path / "tensorboard" / "teacher")
    [events] = (tmp_path / "tensorboard" / "teacher").rglob("events.out.tfevents.*")
    board = EventAccumulator(str(events.parent))
    board.Reload()
    tags = board.Tags()["scalars"]
    assert {"train/loss", "train/learning_rate", "validation/accuracy", "validation/f1"} <= set(tags)
    assert [e.step for e in board.Scalars("train/loss")] == list(range(1, result.steps + 1))
    validation = board.Scalars("validation/accuracy")
    assert [e.step for e in validation] == [h["step"] for h in result.history]
    assert [e.value for e in validation] == pytest.approx([h["accuracy"] for h in result.history])


def test_tensorboard_without_its_extra_fails_at_validation(tmp_path, sentiment_files, monkeypatch):
    import importlib.util

    from slimkit.errors import RecipeError
    from slimkit.planning import plan
    from slimkit.runner import build_registry

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    stage = '\n  - {"kind": "finetune", "name": "teacher", "tensorboard": true}\n'
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=stage)
    with pytest.raises(RecipeError, match=r"tensorboard: tensorboard is not installed \(pip "
                                          r"install 'slimkit\[tensorboard\]'"):
        plan(recipe, build_registry())
