"""The training loop shared by fine-tuning and (later) distillation.

AdamW with decoupled weight decay, linear warm-up then linear decay, gradient clipping,
dynamically padded length-grouped batches, evaluation at fixed points, best checkpoint kept,
early stopping. Runs through Hugging Face Accelerate, so ``accelerate launch`` spreads it over
devices or processes with the same code path; on one CPU it is a plain loop.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from compress.curves import CURVE_POINTS, LossCurve
from compress.fake_quant import FakeQuantConfig
from compress.strategies import FreezeConfig, Scheduler, UnfreezeConfig, check_strategies
from slimkit.batching import Encoded, collate_with_rows, encode, length_grouped_batches
from slimkit.data import Dataset
from slimkit.evaluation import evaluate_model
from slimkit.progress import progress as progress_bar
from slimkit.stage import StageConfig

log = logging.getLogger(__name__)


class TrainingConfig(StageConfig):
    """Optimisation settings common to every stage that trains."""

    epochs: PositiveInt = 3
    learning_rate: PositiveFloat = 5e-5
    batch_size: PositiveInt = 32
    eval_batch_size: PositiveInt = 128
    weight_decay: NonNegativeFloat = 0.01
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    max_grad_norm: PositiveFloat | None = 1.0
    max_train_samples: PositiveInt | None = None
    metric: Literal["accuracy", "f1"] = "accuracy"
    evals_per_epoch: PositiveInt = Field(1, description="evaluations (checkpoint candidates) per epoch")
    early_stopping_patience: PositiveInt | None = Field(
        None, description="stop after this many evaluations without improvement")
    group_by_length: bool = True
    fake_quant: FakeQuantConfig | None = Field(
        None, description="train through ONNX Runtime's dynamic INT8 rounding (compress/fake_quant.py)")
    # fine-tuning strategies (compress/strategies.py, compress/layerwise.py)
    scheduler: Scheduler = Field("linear", description="learning-rate schedule after warm-up "
                                 "(transformers' get_scheduler)")
    lr_decay: float | None = Field(None, gt=0, le=1, description="layer-wise decay: each layer "
                                   "below the top trains at this times the rate of the one above")
    head_learning_rate: PositiveFloat | None = Field(
        None, description="rate of the classification head (default: learning_rate)")
    freeze: FreezeConfig | None = Field(None, description="weights that never train")
    gradual_unfreeze: UnfreezeConfig | None = Field(
        None, description="head and top layer first, one more layer at a time")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="finetune: soften the label targets")
    class_weights: list[PositiveFloat] | Literal["balanced"] | None = Field(
        None, description="finetune: per-label loss weights, in label order, or 'balanced'")
    average_last: PositiveInt | None = Field(
        None, description="keep the average of the last N evaluated checkpoints, not the best")
    tensorboard: bool = Field(False, description="also log loss, learning rate and validation "
                              "scores to RUN/tensorboard/VARIANT (the tensorboard extra)")

    @model_validator(mode="after")
    def _strategies(self) -> TrainingConfig:
        check_strategies(self)
        return self


@dataclass
class FitResult:
    metric: str = "accuracy"  # what best_metric and the kept checkpoint were chosen by
    best_metric: float | None = None
    best_step: int = 0
    steps: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    unfrozen: list[dict[str, int]] | None = None  # gradual unfreezing: when each depth woke
    # [step, mean training loss since the previous point], about CURVE_POINTS of them
    loss_curve: list[list[float]] = field(default_factory=list)
    averaged: int | None = None  # checkpoints averaged into the kept weights (average_last)
    # every score of the kept (best) checkpoint on the validation rows; not part of the manifest's
    # training record, but the stage's evaluation when the validation rows are the eval rows
    best_scores: dict[str, Any] | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        """What the manifest keeps under ``training``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "best_scores"}


# loss_fn(model, batch, row_ids) -> loss; row_ids index the rows of ``training_rows``
LossFn = Callable[[Any, dict[str, Any], Any], Any]


def scores_on_eval(result: FitResult, validation: Dataset, evaluation: Dataset) -> dict | None:
    """The kept checkpoint's scores as the stage's evaluation, when they were measured on the eval
    rows themselves (``data.validation`` unset): no second pass over the same rows."""
    return result.best_scores if validation is evaluation else None


def training_rows(train: Dataset, limit: int | None, seed: int) -> Dataset:
    """A seeded random subset of the training rows (all of them, shuffled, when no limit)."""
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return train.subset(order[:limit] if limit else order)


def _optimizer(model: Any, cfg: TrainingConfig):
    """AdamW over parameter groups by depth: layer-wise rates, the head's rate, frozen weights
    left out (compress/layerwise.py)."""
    import torch

    from compress.layerwise import param_groups

    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.learning_rate)


def _eval_steps(steps_per_epoch: int, cfg: TrainingConfig) -> set[int]:
    points = set()
    for epoch in range(cfg.epochs):
        for k in range(1, cfg.evals_per_epoch + 1):
            points.add(epoch * steps_per_epoch + math.ceil(k * steps_per_epoch / cfg.evals_per_epoch))
    return points


def _loader(encoded: Encoded, tokenizer: Any, batches: list[list[int]]):
    from torch.utils.data import DataLoader

    return DataLoader(list(range(len(encoded))), batch_sampler=batches,
                      collate_fn=lambda rows: collate_with_rows(encoded, rows, tokenizer))


@dataclass
class _Run:
    """The moving parts of one ``fit`` and what it has seen so far."""

    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    cfg: TrainingConfig
    steps_per_epoch: int
    total: int
    result: FitResult = field(default_factory=FitResult)
    best_state: dict[str, Any] | None = None
    stale: int = 0
    step: int = 0
    unfreezer: Any = None
    recent: list[dict[str, Any]] = field(default_factory=list)  # the last average_last states

    def train_step(self, batch: dict[str, Any], loss_fn: LossFn | None) -> float:
        if self.unfreezer is not None:
            self.unfreezer.at(self.step)
        row_ids = batch.pop("row_ids")
        loss = loss_fn(self.model, batch, row_ids) if loss_fn else self.model(**batch).loss
        self.accelerator.backward(loss)
        if self.cfg.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.step += 1
        self.accelerator.log({"train/loss": loss.item(),  # a no-op without a tracker
                              "train/learning_rate": self.scheduler.get_last_lr()[0]},
                             step=self.step)
        return loss.item()

    def evaluate(self, epoch: int, running: float, score: Callable[[Any], dict[str, Any]]) -> bool:
        """Score this checkpoint, keep it when it is the best so far; True when it is time to
        stop early."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        scores = score(unwrapped)
        value = scores[self.cfg.metric]
        self.result.history.append({
            "epoch": epoch + 1, "step": self.step,
            "train_loss": running / max(1, self.step - epoch * self.steps_per_epoch),
            "accuracy": scores["accuracy"], "f1": scores["f1"]})
        log.info("step %d/%d epoch %d: validation %s %.4f", self.step, self.total, epoch + 1,
                 self.cfg.metric, value)
        self.accelerator.log({f"validation/{k}": scores[k] for k in ("accuracy", "f1")},
                             step=self.step)
        self.model.train()
        self._keep_recent(unwrapped)
        if self.result.best_metric is None or value > self.result.best_metric:
            self.result.best_metric, self.result.best_step, self.stale = value, self.step, 0
            self.result.best_scores = scores
            self.best_state = {k: v.detach().clone() for k, v in unwrapped.state_dict().items()}
        else:
            self.stale += 1
        patience = self.cfg.early_stopping_patience
        self.result.stopped_early = bool(patience and self.stale >= patience)
        return self.result.stopped_early

    def _keep_recent(self, unwrapped: Any) -> None:
        if self.cfg.average_last:
            state = {k: v.detach().clone() for k, v in unwrapped.state_dict().items()}
            self.recent = [*self.recent, state][-self.cfg.average_last:]

    def best_model(self) -> Any:
        """The unwrapped model holding the best evaluated weights (or the average of the last
        ``average_last``), on CPU, in eval mode (trained on CUDA where there is one; the stages
        after it work on CPU)."""
        from compress.layerwise import average

        model = self.accelerator.unwrap_model(self.model)
        if self.cfg.average_last and len(self.recent) > 1:
            model.load_state_dict(average(self.recent))
            self.result.averaged, self.result.best_scores = len(self.recent), None
        elif self.best_state is not None:
            model.load_state_dict(self.best_state)
        for param in model.parameters():  # frozen or still-frozen weights: the saved model is whole
            param.requires_grad_(True)
        if self.cfg.fake_quant is not None:
            from compress.fake_quant import detach

            detach(model)
            # the scores were of the fake-quantized model; the saved float one is scored anew
            self.result.best_scores = None
        return model.cpu().eval()


def _prepare(model: Any, cfg: TrainingConfig, rows: int, accelerator: Any) -> _Run:
    from transformers import get_scheduler

    from compress.layerwise import Unfreezer, apply_freeze

    if cfg.fake_quant is not None:  # before the optimizer: it trains the quantizers' originals
        from compress.fake_quant import attach

        log.info("fake-quantizing %d Linear layers (%s)", attach(model, cfg.fake_quant),
                 cfg.fake_quant.scheme)
    if cfg.freeze is not None:
        log.info("freezing %d weights (%s)", apply_freeze(model, cfg), cfg.freeze)
    # the scheduler counts every process's steps (accelerate steps it once per process); each
    # process takes its share of the batches, and counts, evaluates and reports its own steps
    all_steps = math.ceil(rows / cfg.batch_size) * cfg.epochs
    steps_per_epoch = math.ceil(math.ceil(rows / cfg.batch_size) / accelerator.num_processes)
    optimizer = _optimizer(model, cfg)
    scheduler = get_scheduler(cfg.scheduler, optimizer, int(cfg.warmup_ratio * all_steps),
                              all_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    run = _Run(accelerator, model, optimizer, scheduler, cfg, steps_per_epoch,
               steps_per_epoch * cfg.epochs, FitResult(metric=cfg.metric))
    if cfg.gradual_unfreeze is not None:
        run.unfreezer = Unfreezer(accelerator.unwrap_model(model), cfg, steps_per_epoch)
        run.result.unfrozen = run.unfreezer.events
    return run


def _accelerator(tensorboard: Path | None) -> Any:
    """accelerate on CUDA where there is one; with TensorBoard's tracker given a folder."""
    import torch
    from accelerate import Accelerator

    from compress.curves import tracker

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), **tracker(tensorboard))
    if tensorboard:
        accelerator.init_trackers(tensorboard.name)
    return accelerator


def fit(model: Any, tokenizer: Any, train: Dataset, validation: Dataset, cfg: TrainingConfig, *,
        seed: int, max_length: int, loss_fn: LossFn | None = None,
        tensorboard: Path | None = None) -> FitResult:
    """Train ``model`` in place; it ends holding the best evaluated weights (TensorBoard too)."""
    from accelerate.utils import set_seed

    set_seed(seed)
    rng = random.Random(seed)
    accelerator = _accelerator(cfg.tensorboard and tensorboard)
    encoded = encode(training_rows(train, cfg.max_train_samples, seed), tokenizer, max_length)
    run = _prepare(model, cfg, len(encoded), accelerator)
    eval_at = _eval_steps(run.steps_per_epoch, cfg)

    def score(unwrapped: Any) -> dict[str, Any]:
        return _evaluate_once(accelerator, unwrapped, tokenizer, validation, max_length, cfg)

    start = time.perf_counter()
    run.model.train()
    progress = progress_bar(total=run.total, desc="train", unit="step",
                            enabled=accelerator.is_local_main_process)
    curve = LossCurve(max(1, run.total // CURVE_POINTS), run.result.loss_curve)
    for epoch in range(cfg.epochs):
        running = 0.0
        for batch in accelerator.prepare(_loader(encoded, tokenizer, _batches(encoded, cfg, rng))):
            loss = run.train_step(batch, loss_fn)
            running += loss
            curve.add(run.step, loss)
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", epoch=epoch + 1)
            if run.step in eval_at and run.evaluate(epoch, running, score):
                break
        if run.result.stopped_early:
            log.info("early stop after step %d: no gain in %d evaluations", run.step, run.stale)
            break
    progress.close()
    if accelerator.trackers:
        accelerator.end_training()  # closes the event files
    run.best_model()
    run.result.steps, run.result.seconds = run.step, time.perf_counter() - start
    return run.result


def _evaluate_once(accelerator: Any, model: Any, tokenizer: Any, validation: Dataset,
                   max_length: int, cfg: TrainingConfig) -> dict[str, Any]:
    """The main process scores the checkpoint; every process gets the same scores, so all keep
    the same best checkpoint and stop early together."""
    from accelerate.utils import broadcast_object_list

    scores = evaluate_model(model, tokenizer, validation, max_length, cfg.eval_batch_size,
                            progress=False) if accelerator.is_main_process else None
    if accelerator.num_processes > 1:
        scores = broadcast_object_list([scores])[0]
    return scores


def _batches(encoded: Encoded, cfg: TrainingConfig, rng: random.Random) -> list[list[int]]:
    if cfg.group_by_length:
        return length_grouped_batches(encoded.lengths(), cfg.batch_size, rng)
    order = list(range(len(encoded)))
    rng.shuffle(order)
    return [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
