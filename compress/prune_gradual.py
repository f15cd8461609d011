"""``kind: prune_gradually``: heads and feed-forward neurons removed over several rounds toward a
target, each round followed by distillation from the original teacher, so the model recovers from
small cuts instead of one large one (Zhu & Gupta's gradual schedule, with structured cuts).

The target is the share of heads and of FFN neurons to remove, or a share of the parent's encoder
FLOPs to keep (heads and neurons are then cut by the same share: both are linear in FLOPs). After
round k of R, k/R of the cut is made, counted against the parent's sizes, so the last round ends
exactly at the target; every round's sizes, FLOPs and recovered score go into the manifest."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from compress.distill import DistillConfig
from slimkit import pruned_modeling as pm
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, StageConfig, Variant


class PruneGradualConfig(StageConfig):
    """Prune heads and FFN neurons in rounds toward a target, recovering by distillation."""

    kind: Literal["prune_gradually"] = "prune_gradually"
    teacher: str | None = Field(None, description="variant that teaches every round; default: parent")
    rounds: PositiveInt = Field(3, le=20, description="prune -> distill rounds")
    heads_fraction: float | None = Field(None, ge=0, lt=1, description="share of heads removed at the end")
    ffn_fraction: float | None = Field(None, ge=0, lt=1, description="share of FFN neurons removed")
    flops_target: float | None = Field(
        None, gt=0, lt=1, description="share of the parent's encoder FLOPs to keep (instead of fractions)")
    flops_seq_len: PositiveInt = Field(64, description="sequence length the FLOPs are counted at")
    criterion: Literal["gradient", "magnitude"] = "gradient"
    scoring_batches: PositiveInt = Field(16, description="training batches to score on, each round")
    batch_size: PositiveInt = 32
    rows_each_round: Literal["same", "new"] = Field(
        "same", description="'new': each round recovers on its own seeded draw of "
        "recover.max_train_samples rows (round 1 the same as 'same'), so the rounds see more of "
        "the data; 'same': every round the same subset (the default, as published runs were made)")
    recover: DistillConfig = Field(default_factory=lambda: DistillConfig(epochs=1),
                                   description="the distillation after each round (its fields)")

    @model_validator(mode="after")
    def _one_target(self) -> PruneGradualConfig:
        fractions = self.heads_fraction is not None or self.ffn_fraction is not None
        if fractions == (self.flops_target is not None):
            raise ValueError("give flops_target, or heads_fraction and / or ffn_fraction")
        if self.recover.layers != "all" or self.recover.student or self.recover.init != "parent":
            raise ValueError("recover trains the pruned model itself: leave layers, student and "
                             "init at their defaults")
        return self

    def cut(self) -> tuple[float, float]:
        """(share of heads, share of FFN neurons) removed at the end."""
        if self.flops_target is not None:
            return 1 - self.flops_target, 1 - self.flops_target
        return self.heads_fraction or 0.0, self.ffn_fraction or 0.0


class PruneGradual(Stage[PruneGradualConfig]):
    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        try:
            pm.family(str(model_config.get("model_type")))
        except ValueError as exc:
            raise RecipeError(str(exc), field="kind", fix="use a supported architecture") from None
        heads = config_value(model_config, "num_attention_heads", "n_heads", default=12)
        share = self.config.cut()[0]
        if share > 0 and round(share * heads) >= heads:
            raise RecipeError("the target removes every head of a layer", field="heads_fraction",
                              fix="keep at least one head per layer")

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.curves import curve_files
        from compress.prune_rounds import joined_record, prune_in_rounds
        from compress.structure import StructuredVariant, copy_model, parameters, shape_of
        from compress.training import scores_on_eval

        teacher = ctx.variant(self.config.teacher) if self.config.teacher else parent
        model = copy_model(parent.model)
        before = parameters(model)
        rounds, results = prune_in_rounds(model, teacher, parent.tokenizer, self.config, ctx)
        training = joined_record(results)
        heads, ffn = shape_of(model)
        return StructuredVariant(
            name=self.config.variant_name, model=model, tokenizer=parent.tokenizer,
            metrics=scores_on_eval(results[-1], ctx.validation, ctx.eval),
            extra_files=curve_files(training, self.config.recover.metric, self.config.variant_name),
            extras={"training": training,
                    "pruning": {"heads_per_layer": heads, "ffn_per_layer": ffn, "rounds": rounds,
                                "teacher": teacher.name, "parameters_before": before,
                                "parameters_after": parameters(model)}})
