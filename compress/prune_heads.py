"""``kind: prune_heads``: score attention heads, then cut the weakest out of Q, K, V and the output
projection, so the weight matrices really shrink."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveInt, model_validator

from slimkit import pruned_modeling as pm
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, StageConfig, Variant, exactly_one

if TYPE_CHECKING:
    import torch


class PruneHeadsConfig(StageConfig):
    """Remove attention heads by importance: a global fraction, or a number from every layer."""

    kind: Literal["prune_heads"] = "prune_heads"
    fraction: float | None = Field(None, ge=0, lt=1, description="share of all heads to remove")
    heads_per_layer: int | None = Field(None, ge=0, description="heads to remove from each layer")
    criterion: Literal["gradient", "magnitude"] = "gradient"
    scoring_batches: PositiveInt = Field(32, description="training batches to score heads on")
    batch_size: PositiveInt = 32
    allow_empty_layers: bool = Field(False, description="may remove a layer's last head")

    @model_validator(mode="after")
    def _one_amount(self) -> PruneHeadsConfig:
        exactly_one(self, "fraction", "heads_per_layer")
        return self


class PruneHeads(Stage[PruneHeadsConfig]):
    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        heads = config_value(model_config, "num_attention_heads", "n_heads", default=12)
        removed = self.config.heads_per_layer
        if removed is not None and (removed > heads or
                                    (removed == heads and not self.config.allow_empty_layers)):
            raise RecipeError(f"{removed} heads to prune out of {heads} per layer",
                              field="heads_per_layer",
                              fix=f"use at most {heads - 1}, or set allow_empty_layers: true")
        try:
            pm.family(str(model_config.get("model_type")))
        except ValueError as exc:
            raise RecipeError(str(exc), field="kind", fix="use a supported architecture") from None

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.structure import StructuredVariant, copy_model, parameters, shape_of

        model = copy_model(parent.model)
        before = parameters(model)
        scores = self._scores(model, parent.tokenizer, ctx)
        plan = choose_heads(scores, self.config.fraction, self.config.heads_per_layer,
                            self.config.allow_empty_layers)
        for layer, parts, keep in zip(pm.layer_list(model), pm.layers(model), plan, strict=True):
            if len(keep) != parts.heads:
                pm.keep_heads(parts, layer, keep)
        heads, _ = shape_of(model)
        return StructuredVariant(
            name=self.config.variant_name, model=model, tokenizer=parent.tokenizer,
            extras={"pruning": {"heads_per_layer": heads, "kept_heads": plan,
                                "scores": [s.tolist() for s in scores],
                                "parameters_before": before, "parameters_after": parameters(model)}})

    def _scores(self, model: Any, tokenizer: Any, ctx: RunContext) -> list[torch.Tensor]:
        from compress.importance import (
            head_gradient_importance,
            head_magnitude_importance,
            scoring_batches,
        )

        if self.config.criterion == "magnitude":
            return head_magnitude_importance(model)
        batches = scoring_batches(model, tokenizer, ctx.train, self.config.scoring_batches,
                                  self.config.batch_size, ctx.recipe.data.max_length, ctx.seed)
        return head_gradient_importance(model, batches)


def choose_heads(scores: list[torch.Tensor], fraction: float | None, per_layer: int | None,
                 allow_empty: bool) -> list[list[int]]:
    """The heads to keep in each layer: the lowest-scored ones go first."""
    if per_layer is not None:
        return [sorted(s.argsort(descending=True)[: len(s) - per_layer].tolist()) for s in scores]
    total = sum(len(s) for s in scores)
    ranked = sorted((float(v), layer, head) for layer, s in enumerate(scores)
                    for head, v in enumerate(s.tolist()))
    remaining = [len(s) for s in scores]
    removed: set[tuple[int, int]] = set()
    for _, layer, head in ranked:
        if len(removed) >= round(fraction * total):
            break
        if remaining[layer] == 1 and not allow_empty:
            continue
        removed.add((layer, head))
        remaining[layer] -= 1
    return [[h for h in range(len(s)) if (layer, h) not in removed] for layer, s in enumerate(scores)]
