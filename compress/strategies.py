"""Fine-tuning strategies practitioners reach for on small or hard data, as validated recipe
options of every training stage (``finetune``, ``distill``): which weights train and at what rate
(layer-wise learning-rate decay, a head rate, freezing, gradual unfreezing), the schedule, and the
loss's treatment of labels. Pydantic only: validating a recipe loads no torch. The torch side is
``compress/layerwise.py``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

Scheduler = Literal["linear", "cosine", "constant_with_warmup"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FreezeConfig(_Strict):
    """Weights that never train (the classification head always does)."""

    embeddings: bool = Field(False, description="the embedding tables")
    layers: NonNegativeInt = Field(0, description="the first N encoder layers (from the bottom)")
    encoder: bool = Field(False, description="every encoder weight: the head alone trains")

    @model_validator(mode="after")
    def _something(self) -> FreezeConfig:
        if not (self.embeddings or self.layers or self.encoder):
            raise ValueError("freeze nothing? set embeddings: true, layers: N or encoder: true")
        return self


class UnfreezeConfig(_Strict):
    """Gradual unfreezing (ULMFiT): the head and the top layer train first, then one more layer
    below every ``every_steps`` steps or every epoch, down to the embeddings."""

    every_steps: PositiveInt | None = Field(None, description="unfreeze one more layer this often")
    every_epoch: bool = Field(False, description="unfreeze one more layer at each epoch start")

    @model_validator(mode="after")
    def _one_pace(self) -> UnfreezeConfig:
        if (self.every_steps is None) == (not self.every_epoch):
            raise ValueError("give exactly one of every_steps: K or every_epoch: true")
        return self


def check_strategies(cfg: Any) -> None:
    """Combinations a training config may not hold (called by TrainingConfig's validator)."""
    freeze, unfreeze = cfg.freeze, cfg.gradual_unfreeze
    if freeze is not None and freeze.encoder and cfg.lr_decay is not None:
        raise ValueError("lr_decay has no layers to decay over with freeze.encoder: true; drop one")
    if freeze is not None and unfreeze is not None:
        raise ValueError("freeze and gradual_unfreeze both decide which layers train; keep one")
    if cfg.average_last == 1:
        raise ValueError("average_last: 1 averages nothing; use 2 or more (or leave it unset)")


def check_against_model(cfg: Any, layers: int) -> None:
    """What needs the model's depth: freezing more layers than it has."""
    freeze = cfg.freeze
    if freeze is not None and freeze.layers > layers:
        raise ValueError(f"{freeze.layers} is more than the model's {layers} layers")


def check_training_options(cfg: Any, model_config: dict[str, Any], recipe: Any) -> None:
    """Strategy options that need the model or the recipe (a stage's ``check``)."""
    from slimkit.errors import RecipeError
    from slimkit.models import config_value

    depth = config_value(model_config, "num_hidden_layers", "n_layers", default=12)
    try:
        check_against_model(cfg, depth)
    except ValueError as exc:
        raise RecipeError(str(exc), field="freeze.layers", fix=f"use 0..{depth}") from None
    if recipe.data.labels:
        check_class_weights(cfg, list(recipe.data.labels))
    if getattr(cfg, "tensorboard", False):
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise RecipeError("tensorboard is not installed", field="tensorboard",
                              fix="pip install 'slimkit[tensorboard]', or drop 'tensorboard: true'")


def check_class_weights(cfg: Any, labels: list[str]) -> None:
    from slimkit.errors import RecipeError

    if isinstance(cfg.class_weights, list) and len(cfg.class_weights) != len(labels):
        raise RecipeError(f"{len(cfg.class_weights)} class weights for {len(labels)} labels "
                          f"{labels}", field="class_weights",
                          fix="give one weight per label, in label order, or 'balanced'")
