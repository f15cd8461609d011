"""``kind: prune_layers``: drop whole transformer layers and renumber the rest."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from compress.prune_ffn import _check_family
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, StageConfig, Variant, exactly_one


class PruneLayersConfig(StageConfig):
    """Drop layers by index, or drop a count of them chosen from the top, every other one, or by
    the loss increase their removal causes on training batches."""

    kind: Literal["prune_layers"] = "prune_layers"
    drop: list[int] | None = Field(None, description="0-based indices of the layers to drop")
    count: PositiveInt | None = Field(None, description="how many layers to drop")
    strategy: Literal["top", "every_other", "importance"] = "importance"
    scoring_batches: PositiveInt = 16
    batch_size: PositiveInt = 32

    @model_validator(mode="after")
    def _one_amount(self) -> PruneLayersConfig:
        exactly_one(self, "drop", "count")
        return self


class PruneLayers(Stage[PruneLayersConfig]):
    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        depth = config_value(model_config, "num_hidden_layers", "n_layers", default=12)
        drop = self.config.drop
        if drop is not None and (len(set(drop)) != len(drop) or any(not 0 <= i < depth for i in drop)):
            raise RecipeError(f"drop {drop} must be distinct indices in 0..{depth - 1}",
                              field="drop", fix=f"the model has {depth} layers")
        amount = len(drop) if drop is not None else self.config.count
        if amount >= depth:
            raise RecipeError(f"dropping {amount} of {depth} layers leaves none", field="count",
                              fix=f"drop at most {depth - 1}")
        _check_family(model_config)

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.structure import StructuredVariant, copy_model, keep_layers, parameters

        model = copy_model(parent.model)
        before = parameters(model)
        drop = self._choose(model, parent.tokenizer, ctx)
        keep = [i for i in range(model.config.num_hidden_layers) if i not in drop]
        keep_layers(model, keep)
        return StructuredVariant(
            name=self.config.variant_name, model=model, tokenizer=parent.tokenizer,
            extras={"pruning": {"dropped_layers": drop, "kept_layers": keep,
                                "parameters_before": before, "parameters_after": parameters(model)}})

    def _choose(self, model: Any, tokenizer: Any, ctx: RunContext) -> list[int]:
        depth, count = model.config.num_hidden_layers, self.config.count
        if self.config.drop is not None:
            return sorted(self.config.drop)
        if self.config.strategy == "top" or model.config.model_type == "albert":
            return list(range(depth - count, depth))
        if self.config.strategy == "every_other":
            return list(range(1, depth, 2))[:count] if count <= depth // 2 else \
                sorted({*range(1, depth, 2), *range(0, depth, 2)[: count - depth // 2]})
        from compress.importance import layer_importance, scoring_batches

        batches = scoring_batches(model, tokenizer, ctx.train, self.config.scoring_batches,
                                  self.config.batch_size, ctx.recipe.data.max_length, ctx.seed)
        scores = layer_importance(model, batches)
        return sorted(sorted(range(depth), key=lambda i: scores[i])[:count])
