"""``kind: finetune``: train a classifier (the teacher) on the recipe's training rows."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field

from compress.strategies import check_class_weights, check_training_options
from compress.training import TrainingConfig
from slimkit.data import Dataset
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, Variant

# families whose sequence classifier reads no pooler (its own head sits on the first token)
NO_POOLER = {"roberta", "xlm-roberta", "camembert", "electra", "distilbert"}


class FinetuneConfig(TrainingConfig):
    """Fine-tune every weight of the parent model on data.train; keep the best checkpoint."""

    kind: Literal["finetune"] = "finetune"
    swap_pairs: bool = Field(False, description="also train on each pair with its two texts "
                             "swapped (tasks where their order means nothing: paraphrase, "
                             "similarity); max_train_samples counts the pairs before the copies")
    reinit_pooler: bool = Field(False, description="draw the pooler (the dense layer over the "
                                "first token that BERT's classifier reads) afresh before training, "
                                "as a base checkpoint that never trained it needs")


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
        if self.config.swap_pairs and recipe.data.text_pair is None:
            raise RecipeError("there is no second text to swap: data.text_pair is unset",
                              field="swap_pairs", fix="set data.text_pair, or drop swap_pairs")
        family = str(model_config.get("model_type"))
        if self.config.reinit_pooler and family in NO_POOLER:
            raise RecipeError(f"a {family} classifier reads no pooler", field="reinit_pooler",
                              fix="drop reinit_pooler: its head is drawn afresh anyway")

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.curves import curve_files
        from compress.layerwise import label_loss
        from compress.training import fit, scores_on_eval

        model = copy.deepcopy(parent.model)
        labels = ctx.train.label_names
        check_class_weights(self.config, labels)  # labels read from the rows: known only now
        if self.config.reinit_pooler:
            reinit_pooler(model, ctx.seed)
        rows, cfg = finetune_rows(self.config, ctx)
        result = fit(model, parent.tokenizer, rows, ctx.validation, cfg,
                     seed=ctx.seed, max_length=ctx.recipe.data.max_length,
                     loss_fn=label_loss(cfg, list(ctx.train.labels), len(labels)),
                     tensorboard=ctx.workdir / "tensorboard" / cfg.variant_name)
        record = {**result.record(), "training_rows": len(rows)}
        return Variant(name=cfg.variant_name, model=model, tokenizer=parent.tokenizer,
                       extras={"training": record},
                       metrics=scores_on_eval(result, ctx.validation, ctx.eval),
                       extra_files=curve_files(record, cfg.metric, cfg.variant_name))


def finetune_rows(cfg: FinetuneConfig, ctx: RunContext) -> tuple[Dataset, FinetuneConfig]:
    """The rows ``fit`` trains on: with ``swap_pairs``, the seeded subset of pairs and each one
    reversed, taken whole (so ``max_train_samples`` counts the pairs, as ``augment`` does)."""
    if not cfg.swap_pairs:
        return ctx.train, cfg
    from compress.training import training_rows

    return (with_swapped_pairs(training_rows(ctx.train, cfg.max_train_samples, ctx.seed)),
            cfg.model_copy(update={"max_train_samples": None}))


def with_swapped_pairs(rows: Dataset) -> Dataset:
    """``rows`` followed by each row with its text and its pair exchanged (same label)."""
    if rows.text_pairs is None:
        raise RecipeError("there is no second text to swap: the rows have no pairs",
                          field="swap_pairs", fix="set data.text_pair, or drop swap_pairs")
    return Dataset(rows.texts + rows.text_pairs, rows.text_pairs + rows.texts,
                   rows.labels + rows.labels, rows.label_names, rows.source)


def reinit_pooler(model: Any, seed: int) -> None:
    """Draw the pooler's linear weights from N(0, initializer_range), biases zero, seeded."""
    import torch

    pooler = getattr(model.base_model, "pooler", None) or getattr(model, "pooler", None)
    if pooler is None:
        raise RecipeError(f"a {model.config.model_type} classifier reads no pooler",
                          field="reinit_pooler", fix="drop reinit_pooler")
    std = getattr(model.config, "initializer_range", 0.02)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (m for m in pooler.modules() if isinstance(m, torch.nn.Linear)):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            if layer.bias is not None:
                layer.bias.zero_()
