"""Gradual pruning: heads and FFN neurons cut over rounds toward a target, recovered by
distillation after each round; it ends exactly at the target and reloads bit-identically."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.variant_details import training_metric
from compress.prune_rounds import encoder_flops
from slimkit import pruned_modeling as pm
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry

from .conftest import TEACHER_STAGE, tiny_recipe
from .test_structure import logits, run_stage, save_and_reload

RECOVER = {"epochs": 1, "max_train_samples": 32, "batch_size": 16, "learning_rate": 3e-3}


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_two_rounds_end_exactly_at_the_target_and_reload_exactly(stage_setup):
    parent, ctx, tmp = stage_setup
    pruned = run_stage({"kind": "prune_gradually", "rounds": 2, "heads_fraction": 0.5,
                        "ffn_fraction": 0.5, "scoring_batches": 2, "batch_size": 8,
                        "recover": RECOVER}, parent, ctx)
    record = pruned.extras["pruning"]
    # 4 layers x 4 heads, FFN 64: half of each, reached in two equal steps
    assert [sum(r["heads_per_layer"]) for r in record["rounds"]] == [12, 8]
    assert [r["ffn_per_layer"] for r in record["rounds"]] == [[48] * 4, [32] * 4]
    assert record["heads_per_layer"] == [p.heads for p in pm.layers(pruned.model)]
    assert sum(record["heads_per_layer"]) == 8 and record["ffn_per_layer"] == [32] * 4
    shares = [r["flops_share"] for r in record["rounds"]]
    assert shares == pytest.approx([0.75, 0.5])  # every term of the count is linear in both
    assert all(r["recovered"]["value"] is not None for r in record["rounds"])
    assert record["parameters_after"] < record["parameters_before"]
    reloaded = save_and_reload(pruned, tmp / "gradual")
    assert torch.equal(logits(reloaded), logits(pruned))


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_the_training_curves_run_through_every_round(stage_setup):
    parent, ctx, _ = stage_setup
    pruned = run_stage({"kind": "prune_gradually", "rounds": 2, "ffn_fraction": 0.5,
                        "scoring_batches": 2, "batch_size": 8,
                        "recover": {**RECOVER, "metric": "f1"}}, parent, ctx)
    training = pruned.extras["training"]
    per_round = training["steps"] // 2  # the same rows and batch size every round
    assert training["rounds"] == 2 and training["metric"] == "f1" and per_round > 0
    assert [(e["round"], e["step"]) for e in training["history"]] == [(1, per_round),
                                                                    (2, 2 * per_round)]
    assert training["best_step"] == 2 * per_round  # the last round's kept checkpoint
    steps = [step for step, _ in training["loss_curve"]]
    assert steps == sorted(steps) and steps[0] <= per_round < steps[-1] <= 2 * per_round
    curves = json.loads(pruned.extra_files["training_curves.json"])
    assert curves["metric"] == "f1" and curves["evaluations"] == training["history"]
    assert pruned.extra_files["training_curves.png"][:4] == b"\x89PNG"
    assert training_metric(training, {}) == "f1"  # the record says which metric
    assert training_metric({}, {"recover": {"metric": "f1"}}) == "f1"  # an older record


def drawn_rows(monkeypatch) -> list[frozenset]:
    """The texts of every seeded subset drawn from now on (each round's training draws one)."""
    import compress.training

    draws, draw = [], compress.training.training_rows

    def recording(train, limit, seed):
        rows = draw(train, limit, seed)
        draws.append(frozenset(rows.texts))
        return rows

    monkeypatch.setattr(compress.training, "training_rows", recording)
    return draws


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_new_rows_each_round_draws_another_subset_after_the_first(stage_setup, monkeypatch):
    parent, ctx, _ = stage_setup
    stage = {"kind": "prune_gradually", "rounds": 2, "ffn_fraction": 0.5, "scoring_batches": 2,
             "batch_size": 8, "recover": RECOVER}
    draws = drawn_rows(monkeypatch)
    kept = run_stage(stage, parent, ctx)
    same = list(draws)  # the second recorder wraps the first: copy this run's draws now
    new = drawn_rows(monkeypatch)
    fresh = run_stage({**stage, "rows_each_round": "new"}, parent, ctx)
    assert len(same) == len(new) == 2 and all(len(rows) == 32 for rows in same + new)
    assert same[0] == same[1]  # the default: every round the same 32 rows
    assert new[0] == same[0] and new[1] != new[0]  # round 1 unchanged, round 2 another draw
    seeds = [[r["recovered"]["rows_seed"] for r in v.extras["pruning"]["rounds"]]
             for v in (kept, fresh)]
    assert seeds == [[ctx.seed, ctx.seed], [ctx.seed, ctx.seed + 1]]


@pytest.mark.parametrize("stage_setup", ["bert"], indirect=True)
def test_a_flops_target_cuts_heads_and_neurons_by_the_same_share(stage_setup):
    parent, ctx, _ = stage_setup
    before = encoder_flops(parent.model, 64)
    pruned = run_stage({"kind": "prune_gradually", "rounds": 1, "flops_target": 0.5,
                        "criterion": "magnitude", "recover": RECOVER}, parent, ctx)
    assert encoder_flops(pruned.model, 64) / before == pytest.approx(0.5)
    assert pruned.extras["pruning"]["rounds"][0]["flops_share"] == pytest.approx(0.5)


@pytest.mark.parametrize("settings, says", [
    ("flops_target: 1.5", "stages[1].flops_target"),
    ("flops_target: 0.5, heads_fraction: 0.5", "give flops_target, or heads_fraction"),
    ("rounds: 0, heads_fraction: 0.5", "stages[1].rounds"),
    ("heads_fraction: 0.5, recover: {layers: every_other}", "recover trains the pruned model"),
])
def test_bad_targets_fail_validation_in_one_line(tmp_path, sentiment_files, settings, says):
    stages = TEACHER_STAGE + f"  - {{kind: prune_gradually, {settings}}}\n"
    with pytest.raises(RecipeError) as caught:
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
    assert says in str(caught.value) and "\n" not in str(caught.value)
