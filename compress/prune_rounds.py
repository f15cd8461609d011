"""The rounds of ``kind: prune_gradually``: score, cut to this round's share, recover by
distillation; and the encoder FLOPs the target is counted in."""

from __future__ import annotations

import logging
from typing import Any

from slimkit import pruned_modeling as pm
from slimkit.stage import RunContext, Variant

log = logging.getLogger(__name__)


def encoder_flops(model: Any, seq_len: int) -> int:
    """Multiply-adds x 2 of the encoder for one sequence: Q, K, V and output projections, the
    attention scores and context, and the feed-forward block, over every layer the model runs."""
    parts = pm.layers(model)
    repeat = model.config.num_hidden_layers // len(parts)  # ALBERT runs one layer many times
    hidden = parts[0].output.out_features
    total = 0
    for p in parts:
        inner = p.heads * p.head_size
        total += 2 * seq_len * hidden * inner * 4 + 2 * 2 * seq_len * seq_len * inner
        total += 2 * 2 * seq_len * hidden * p.ffn_in.out_features
    return total * repeat


def _cut_heads(model: Any, target_removed: int, start_total: int, cfg: Any, batches: list) -> None:
    """Remove heads until ``target_removed`` of the parent's ``start_total`` are gone."""
    from compress.importance import head_gradient_importance, head_magnitude_importance
    from compress.prune_heads import choose_heads

    parts = pm.layers(model)
    current = sum(p.heads for p in parts)
    now = target_removed - (start_total - current)
    if now <= 0:
        return
    scores = (head_magnitude_importance(model) if cfg.criterion == "magnitude"
              else head_gradient_importance(model, batches))
    plan = choose_heads(scores, now / current, None, allow_empty=False)
    for layer, layer_parts, keep in zip(pm.layer_list(model), parts, plan, strict=True):
        if len(keep) != layer_parts.heads:
            pm.keep_heads(layer_parts, layer, keep)


def _cut_neurons(model: Any, widths: list[int], share: float, cfg: Any, batches: list) -> None:
    from compress.importance import neuron_importance

    scores = neuron_importance(model, batches, cfg.criterion)
    for layer, parts, score, width in zip(pm.layer_list(model), pm.layers(model), scores, widths,
                                          strict=True):
        keep = width - round(share * width)
        if keep < parts.ffn_in.out_features:
            pm.keep_neurons(parts, layer, score.argsort(descending=True)[:keep].tolist())


def prune_in_rounds(model: Any, teacher: Variant, tokenizer: Any, cfg: Any,
                    ctx: RunContext) -> tuple[list[dict[str, Any]], list[Any]]:
    """Cut ``model`` in place over ``cfg.rounds`` rounds; (per-round records, each round's fit
    result)."""
    from compress.importance import scoring_batches
    from compress.structure import parameters, shape_of

    heads_share, ffn_share = cfg.cut()
    start_flops = encoder_flops(model, cfg.flops_seq_len)
    heads, widths = shape_of(model)  # the parent's: every round's cut is counted against them
    records, results = [], []
    for k in range(1, cfg.rounds + 1):
        batches = list(scoring_batches(model, tokenizer, ctx.train, cfg.scoring_batches,
                                       cfg.batch_size, ctx.recipe.data.max_length, ctx.seed + k))
        _cut_heads(model, round(heads_share * k / cfg.rounds * sum(heads)), sum(heads), cfg, batches)
        _cut_neurons(model, widths, ffn_share * k / cfg.rounds, cfg, batches)
        seed = ctx.seed + (k - 1 if cfg.rows_each_round == "new" else 0)
        result = _recover(model, teacher, tokenizer, cfg, ctx, f"round-{k}", seed)
        results.append(result)
        now_heads, now_ffn = shape_of(model)
        records.append({"round": k, "heads_per_layer": now_heads, "ffn_per_layer": now_ffn,
                        "parameters": parameters(model),
                        "flops_share": encoder_flops(model, cfg.flops_seq_len) / start_flops,
                        "recovered": {"metric": cfg.recover.metric, "value": result.best_metric,
                                      "rows_seed": seed}})
        log.info("round %d/%d: %d heads, FFN %s, %.0f %% of the FLOPs, %s %.4f after recovery",
                 k, cfg.rounds, sum(now_heads), now_ffn, 100 * records[-1]["flops_share"],
                 cfg.recover.metric, result.best_metric)
    return records, results


def joined_record(results: list[Any]) -> dict[str, Any]:
    """One training record of every round's recovery, steps counted from the first round's start,
    so that the curves show the whole schedule; the kept checkpoint is the last round's."""
    record = results[-1].record()
    offset, loss, history = 0, [], []
    for k, result in enumerate(results, start=1):
        loss += [[step + offset, value] for step, value in result.loss_curve]
        history += [{**entry, "step": entry["step"] + offset, "round": k}
                    for entry in result.history]
        offset += result.steps
    record.update(loss_curve=loss, history=history, steps=offset,
                  best_step=offset - results[-1].steps + results[-1].best_step,
                  seconds=sum(r.seconds for r in results), rounds=len(results))
    return record


def _recover(model: Any, teacher: Variant, tokenizer: Any, cfg: Any, ctx: RunContext,
             round_name: str, seed: int) -> Any:
    """Distil the cut model from the teacher; ``seed`` draws the round's rows (the subset when
    ``max_train_samples`` is set, their order, augmentation) and seeds its training."""
    from compress.distill import distill_rows
    from compress.distill_loss import DistillLoss
    from compress.training import fit

    rows, recover = distill_rows(cfg.recover, ctx, tokenizer.mask_token, seed)
    loss = DistillLoss(teacher.model, model, recover)
    if recover.cache_teacher_logits:
        loss.cache_logits(teacher.tokenizer, rows, ctx.recipe.data.max_length, seed)
    result = fit(model, tokenizer, rows, ctx.validation, recover, seed=seed,
                 max_length=ctx.recipe.data.max_length, loss_fn=loss,
                 tensorboard=ctx.workdir / "tensorboard" / f"{cfg.variant_name}-{round_name}")
    loss.close()
    teacher.model.cpu()
    return result
