"""``kind: prune_ffn``: remove intermediate neurons of the feed-forward blocks by importance."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from slimkit import pruned_modeling as pm
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, StageConfig, Variant, exactly_one


class PruneFfnConfig(StageConfig):
    """Shrink every feed-forward block to a target width, keeping its most important neurons."""

    kind: Literal["prune_ffn"] = "prune_ffn"
    fraction: float | None = Field(None, ge=0, lt=1, description="share of neurons to remove per layer")
    target_size: PositiveInt | None = Field(None, description="neurons to keep per layer")
    criterion: Literal["taylor", "magnitude"] = "taylor"
    scoring_batches: PositiveInt = 32
    batch_size: PositiveInt = 32

    @model_validator(mode="after")
    def _one_amount(self) -> PruneFfnConfig:
        exactly_one(self, "fraction", "target_size")
        return self


class PruneFfn(Stage[PruneFfnConfig]):
    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        width = config_value(model_config, "intermediate_size", "hidden_dim", default=3072)
        if self.config.target_size is not None and self.config.target_size > width:
            raise RecipeError(f"target_size {self.config.target_size} is larger than the "
                              f"feed-forward width {width}", field="target_size",
                              fix=f"use at most {width}")
        _check_family(model_config)

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.importance import neuron_importance, scoring_batches
        from compress.structure import StructuredVariant, copy_model, parameters, shape_of

        model = copy_model(parent.model)
        before = parameters(model)
        batches = scoring_batches(model, parent.tokenizer, ctx.train, self.config.scoring_batches,
                                  self.config.batch_size, ctx.recipe.data.max_length, ctx.seed)
        scores = neuron_importance(model, batches, self.config.criterion)
        for layer, parts, score in zip(pm.layer_list(model), pm.layers(model), scores, strict=True):
            width = parts.ffn_in.out_features
            keep = self.config.target_size or width - round(self.config.fraction * width)
            if keep < width:
                pm.keep_neurons(parts, layer, score.argsort(descending=True)[:keep].tolist())
        _, ffn = shape_of(model)
        return StructuredVariant(
            name=self.config.variant_name, model=model, tokenizer=parent.tokenizer,
            extras={"pruning": {"ffn_per_layer": ffn, "parameters_before": before,
                                "parameters_after": parameters(model)}})


def _check_family(model_config: dict[str, Any]) -> None:
    try:
        pm.family(str(model_config.get("model_type")))
    except ValueError as exc:
        raise RecipeError(str(exc), field="kind", fix="use a supported architecture") from None
