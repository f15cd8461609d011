"""``kind: finetune``: train a classifier (the teacher) on the recipe's training rows."""

from __future__ import annotations

import copy
from typing import Any, Literal

from compress.strategies import check_class_weights, check_training_options
from compress.training import TrainingConfig
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, Variant


class FinetuneConfig(TrainingConfig):
    """Fine-tune every weight of the parent model on data.train; keep the best checkpoint."""

    kind: Literal["finetune"] = "finetune"


class Finetune(Stage[FinetuneConfig]):
    distributed = True

    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        positions = config_value(model_config, "max_position_embeddings", default=None)
        if positions is not None and recipe.data.max_length > positions:
            raise RecipeError(
                f"{recipe.data.max_length} exceeds the model's "
                f"max_position_embeddings {positions}", field="data.max_length",
                fix=f"set it to {positions} or less")
        check_training_options(self.config, model_config, recipe)

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.curves import curve_files
        from compress.layerwise import label_loss
        from compress.training import fit, scores_on_eval

        model = copy.deepcopy(parent.model)
        labels = ctx.train.label_names
        check_class_weights(self.config, labels)  # labels read from the rows: known only now
        result = fit(model, parent.tokenizer, ctx.train, ctx.validation, self.config,
                     seed=ctx.seed, max_length=ctx.recipe.data.max_length,
                     loss_fn=label_loss(self.config, list(ctx.train.labels), len(labels)),
                     tensorboard=ctx.workdir / "tensorboard" / self.config.variant_name)
        record = result.record()
        return Variant(name=self.config.variant_name, model=model, tokenizer=parent.tokenizer,
                       extras={"training": record},
                       metrics=scores_on_eval(result, ctx.validation, ctx.eval),
                       extra_files=curve_files(record, self.config.metric,
                                               self.config.variant_name))
