"""``kind: distill``: DistilBERT-style knowledge distillation.

The student starts from the parent variant (all its layers, or a subset such as every other
layer, as DistilBERT did), from a given folder, or from random weights of the same shape. It learns
from alpha * KL(student/T || teacher/T) * T^2 + beta * cross-entropy on the labels + gamma * the
distance between each student layer's output and the teacher layer it stands for.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from compress.augment import AugmentConfig
from compress.training import TrainingConfig
from slimkit.data import Dataset
from slimkit.errors import RecipeError
from slimkit.models import config_value
from slimkit.recipe import Recipe
from slimkit.stage import RunContext, Stage, Variant


class DistillConfig(TrainingConfig):
    """Train a student on the teacher's soft targets, the labels and its hidden states."""

    kind: Literal["distill"] = "distill"
    teacher: str | None = Field(None, description="variant that teaches; default: the parent")
    layers: Literal["all", "every_other"] | list[int] = Field(
        "all", description="parent layers the student keeps ('every_other' = 0, 2, 4, ...)")
    student: str | None = Field(None, description="a model folder to train instead of the parent")
    init: Literal["parent", "random"] = Field("parent", description="'random' re-initialises")
    temperature: PositiveFloat = 2.0
    alpha: NonNegativeFloat = Field(0.5, description="weight of the soft-target KL term")
    beta: NonNegativeFloat = Field(0.5, description="weight of the cross-entropy on labels")
    gamma: NonNegativeFloat = Field(1.0, description="weight of hidden-state alignment")
    hidden_loss: Literal["cosine", "mse"] = "cosine"
    relation: NonNegativeFloat = Field(
        0.0, description="weight of MiniLM-v2 self-attention relation transfer (last layer's Q-Q, "
                         "K-K and V-V relations, KL from teacher to student)")
    cache_teacher_logits: bool = Field(False, description="run the teacher once per row, not per step")
    augment: AugmentConfig | None = Field(
        None, description="teacher-labelled changed copies of the training rows (compress/augment.py)")

    @model_validator(mode="after")
    def _consistent(self) -> DistillConfig:
        if self.cache_teacher_logits and (self.gamma > 0 or self.relation > 0):
            raise ValueError("cache_teacher_logits saves nothing while gamma or relation > 0 needs "
                             "the teacher's inner states every step; set them to 0 or "
                             "cache_teacher_logits: false")
        if self.label_smoothing or self.class_weights is not None:
            raise ValueError("label_smoothing and class_weights shape finetune's loss; distill's "
                             "label term is beta (drop them here)")
        if self.alpha + self.beta + self.gamma + self.relation == 0:
            raise ValueError("alpha, beta, gamma and relation are all 0: nothing to learn from")
        return self


class Distill(Stage[DistillConfig]):
    distributed = True

    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        depth = config_value(model_config, "num_hidden_layers", "n_layers", default=12)
        layers = self.config.layers
        if isinstance(layers, list) and (not layers or sorted(set(layers)) != layers
                                         or layers[-1] >= depth or layers[0] < 0):
            raise RecipeError(f"layers {layers} must be increasing indices in 0..{depth - 1}",
                              field="layers", fix=f"the teacher has {depth} layers")

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        from compress.curves import curve_files
        from compress.distill_loss import DistillLoss, build_student
        from compress.structure import StructuredVariant, parameters
        from compress.training import fit, scores_on_eval

        teacher = ctx.variant(self.config.teacher) if self.config.teacher else parent
        student, kept = build_student(parent, self.config, ctx.seed)
        train, cfg = distill_rows(self.config, ctx, parent.tokenizer.mask_token)
        loss = DistillLoss(teacher.model, student, cfg)
        if cfg.cache_teacher_logits:
            loss.cache_logits(teacher.tokenizer, train, ctx.recipe.data.max_length, ctx.seed)
        result = fit(student, parent.tokenizer, train, ctx.validation, cfg,
                     seed=ctx.seed, max_length=ctx.recipe.data.max_length, loss_fn=loss,
                     tensorboard=ctx.workdir / "tensorboard" / self.config.variant_name)
        loss.close()
        teacher.model.cpu()  # the loss ran it beside the student (on CUDA where there is one)
        record = result.record()
        return StructuredVariant(
            name=self.config.variant_name, model=student, tokenizer=parent.tokenizer,
            metrics=scores_on_eval(result, ctx.validation, ctx.eval),
            extra_files=curve_files(record, cfg.metric, self.config.variant_name),
            extras={"training": record,
                    "distillation": {"teacher": teacher.name, "student_layers_from_parent": kept,
                                     "layer_map": loss.layer_map, "init": self.config.init,
                                     "parameters": parameters(student),
                                     "teacher_parameters": parameters(teacher.model),
                                     "training_rows": len(train),
                                     "augment": cfg.augment and cfg.augment.model_dump()}})


def distill_rows(cfg: DistillConfig, ctx: RunContext, mask_token: str | None,
                 seed: int | None = None) -> tuple[Dataset, DistillConfig]:
    """The rows ``fit`` trains on and the config it trains with: with ``augment``, the seeded
    subset of labelled rows plus their changed copies, taken whole (the subset is drawn before
    the copies are made, so ``max_train_samples`` counts labelled rows)."""
    if cfg.augment is None:
        return ctx.train, cfg
    from compress.augment import augmented
    from compress.training import training_rows

    seed = ctx.seed if seed is None else seed
    labelled = training_rows(ctx.train, cfg.max_train_samples, seed)
    rows = augmented(labelled, cfg.augment, seed, mask_token)
    return rows, cfg.model_copy(update={"max_train_samples": None})
