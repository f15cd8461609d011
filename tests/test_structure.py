"""Pruning and distillation on tiny random models of every architecture: parameters drop by the
expected amount, saved folders reload exactly, and a prune of nothing is an exact no-op."""

from pathlib import Path

import pytest
import torch

from slimkit import pruned_modeling as pm
from slimkit.models import load_base
from slimkit.planning import plan
from slimkit.runner import build_registry
from slimkit.stage import RunContext, Variant

from .conftest import ARCHITECTURES, tiny_recipe

SENTENCES = ["the film was great", "a boring plot and poor acting", "quite a lovely story"]


def run_stage(config: dict, parent: Variant, ctx: RunContext) -> Variant:
    registry = build_registry()
    stage = registry.build(registry.config_class(config["kind"], field_name="kind")(**config))
    return stage.run(parent, ctx)


def logits(variant: Variant) -> torch.Tensor:
    batch = variant.tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return variant.model.eval()(**batch).logits


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def save_and_reload(variant: Variant, folder: Path) -> Variant:
    import slimkit
    from slimkit import artifacts

    from .conftest import sample_manifest

    artifacts.write_variant(folder, lambda tmp: (variant.save(tmp), sample_manifest(
        variant=variant.name, custom_code=variant.extras.get("custom_code", False)))[1])
    return slimkit.load(folder)


def shape(model):
    parts = pm.layers(model)
    hidden = getattr(model.config, "hidden_size", None) or model.config.dim
    return parts, hidden, parts[0].head_size


@pytest.mark.parametrize("stage_setup", ARCHITECTURES, indirect=True)
def test_prune_heads_shrinks_reloads_exactly_and_zero_is_a_no_op(stage_setup):
    parent, ctx, tmp = stage_setup
    parts, hidden, head = shape(parent.model)
    same = run_stage({"kind": "prune_heads", "heads_per_layer": 0}, parent, ctx)
    assert params(same.model) == params(parent.model)
    assert torch.equal(logits(same), logits(parent))

    pruned = run_stage({"kind": "prune_heads", "heads_per_layer": 1}, parent, ctx)
    per_layer = 4 * head * hidden + 3 * head  # Q, K, V rows with biases, output columns
    assert params(parent.model) - params(pruned.model) == per_layer * len(parts)
    assert [p.heads for p in pm.layers(pruned.model)] == [p.heads - 1 for p in parts]
    reloaded = save_and_reload(pruned, tmp / "pruned")
    assert torch.equal(logits(reloaded), logits(pruned))


@pytest.mark.parametrize("stage_setup", ARCHITECTURES, indirect=True)
def test_prune_ffn_shrinks_and_reloads_exactly(stage_setup):
    parent, ctx, tmp = stage_setup
    parts, hidden, _ = shape(parent.model)
    width = parts[0].ffn_in.out_features
    same = run_stage({"kind": "prune_ffn", "fraction": 0.0}, parent, ctx)
    assert torch.equal(logits(same), logits(parent))
    pruned = run_stage({"kind": "prune_ffn", "target_size": width // 2}, parent, ctx)
    removed = width - width // 2
    assert params(parent.model) - params(pruned.model) == (2 * hidden + 1) * removed * len(parts)
    reloaded = save_and_reload(pruned, tmp / "ffn")
    assert torch.equal(logits(reloaded), logits(pruned))


@pytest.mark.parametrize("stage_setup", ARCHITECTURES, indirect=True)
def test_prune_layers_renumbers_and_loads_with_plain_transformers(stage_setup):
    from transformers import AutoModelForSequenceClassification

    parent, ctx, tmp = stage_setup
    pruned = run_stage({"kind": "prune_layers", "drop": [1, 3]}, parent, ctx)
    assert pruned.model.config.num_hidden_layers == 2
    if parent.model.config.model_type != "albert":  # ALBERT's one shared layer has no copies
        per_layer = sum(p.numel() for p in pm.layer_list(parent.model)[0].parameters())
        assert params(parent.model) - params(pruned.model) == 2 * per_layer
    save_and_reload(pruned, tmp / "layers")
    plain = AutoModelForSequenceClassification.from_pretrained(tmp / "layers")
    assert torch.equal(logits(Variant("x", plain, parent.tokenizer)), logits(pruned))


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_gradient_head_scores_and_global_fraction(stage_setup):
    parent, ctx, _ = stage_setup
    pruned = run_stage({"kind": "prune_heads", "fraction": 0.5}, parent, ctx)
    info = pruned.extras["pruning"]
    assert sum(info["heads_per_layer"]) == 8 and min(info["heads_per_layer"]) >= 1
    for kept, scores in zip(info["kept_heads"], info["scores"], strict=True):
        dropped = [s for h, s in enumerate(scores) if h not in kept]
        assert all(s >= 0 for s in scores)
        assert not dropped or max(dropped) <= max(scores[h] for h in kept)


@pytest.mark.parametrize("stage_setup", ["bert", "distilbert"], indirect=True)
def test_removing_every_head_of_a_layer_only_when_asked(stage_setup):
    parent, ctx, tmp = stage_setup
    pruned = run_stage({"kind": "prune_heads", "heads_per_layer": 4, "allow_empty_layers": True},
                       parent, ctx)
    assert [p.heads for p in pm.layers(pruned.model)] == [0, 0, 0, 0]
    out = logits(pruned)
    assert torch.isfinite(out).all()
    assert torch.equal(logits(save_and_reload(pruned, tmp / "empty")), out)


def test_pruned_folder_needs_trust_remote_code(tmp_path, sentiment_files):
    from transformers import AutoModelForSequenceClassification

    recipe = tiny_recipe(tmp_path, *sentiment_files)
    planned = plan(recipe, build_registry())
    model, tokenizer = load_base(planned.recipe.model, ["0", "1"], seed=0)
    ctx = RunContext(planned.recipe, str(recipe), planned.splits.train, planned.splits.validation,
                     planned.splits.eval, {}, 0, tmp_path)
    pruned = run_stage({"kind": "prune_heads", "heads_per_layer": 2, "criterion": "magnitude"},
                       Variant("p", model, tokenizer), ctx)
    save_and_reload(pruned, tmp_path / "p")
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "p")
    remote = AutoModelForSequenceClassification.from_pretrained(tmp_path / "p", trust_remote_code=True)
    assert torch.equal(logits(Variant("r", remote, tokenizer)), logits(pruned))
