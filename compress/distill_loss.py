"""The student's construction and the distillation loss (kept apart so the stage file stays short)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from compress.structure import copy_model, keep_layers
from slimkit.errors import RecipeError
from slimkit.stage import Variant


def build_student(parent: Variant, cfg: Any, seed: int) -> tuple[Any, list[int] | None]:
    """(student model, the parent layers it kept, or None when it came from elsewhere)."""
    if cfg.student:  # slimkit's installed classes, never code from the student's folder
        from slimkit.safe_load import load_classifier

        return load_classifier(cfg.student, num_labels=parent.model.config.num_labels), None
    student = copy_model(parent.model)
    depth = student.config.num_hidden_layers
    kept = list(range(depth)) if cfg.layers == "all" else \
        list(range(0, depth, 2)) if cfg.layers == "every_other" else list(cfg.layers)
    if kept != list(range(depth)):
        keep_layers(student, kept)
    if cfg.init == "random":
        torch.manual_seed(seed)
        student.apply(student._init_weights)
    return student, kept


class DistillLoss:
    """alpha * KL(student/T || teacher/T) * T^2 + beta * CE + gamma * hidden-state distance."""

    def __init__(self, teacher: Any, student: Any, cfg: Any) -> None:
        self.teacher, self.cfg = teacher.eval(), cfg
        self.cached: torch.Tensor | None = None
        s_depth, t_depth = student.config.num_hidden_layers, teacher.config.num_hidden_layers
        # student layer k stands for the teacher's layers up to (k + 1) * T / S
        self.layer_map = [(k + 1) * t_depth // s_depth for k in range(s_depth)]
        if cfg.gamma > 0 and _width(student) != _width(teacher):
            raise RecipeError(f"hidden-state alignment needs equal widths, student "
                              f"{_width(student)} vs teacher {_width(teacher)}", field="gamma",
                              fix="set gamma: 0 for a student of another width")
        self.captures = self._relation_captures(student, teacher) if cfg.relation > 0 else None

    def _relation_captures(self, student: Any, teacher: Any) -> tuple[Any, Any]:
        from compress.relations import LastLayerCapture, check_relation_heads
        from slimkit import pruned_modeling as pm

        self.relation_heads = pm.layers(teacher)[-1].heads
        captures = LastLayerCapture(student), LastLayerCapture(teacher)
        check_relation_heads(captures[0].width, captures[1].width, self.relation_heads)
        return captures

    def close(self) -> None:
        """Remove the relation hooks from both models (after training)."""
        for capture in self.captures or ():
            capture.remove()
        self.captures = None

    def cache_logits(self, tokenizer: Any, train: Any, max_length: int, seed: int) -> None:
        """The teacher's logits for the rows ``fit`` trains on, in its row order (the row_ids
        it passes index them): the same seeded subset of ``train``."""
        from compress.training import training_rows
        from slimkit.inference import predict_logits

        rows = training_rows(train, self.cfg.max_train_samples, seed)
        self.cached = torch.from_numpy(predict_logits(self.teacher, tokenizer, rows, max_length))

    def __call__(self, student: Any, batch: dict[str, Any], row_ids: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        hidden = cfg.gamma > 0
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        out = student(**inputs, output_hidden_states=hidden)
        if self.cached is not None:
            t_logits, t_hidden = self.cached[row_ids].to(out.logits.device), None
        else:
            self.teacher.to(out.logits.device)
            with torch.no_grad():
                t_out = self.teacher(**inputs, output_hidden_states=hidden)
            t_logits, t_hidden = t_out.logits, t_out.hidden_states
        temp = cfg.temperature
        loss = cfg.beta * label_loss(out.logits, batch["labels"]) if cfg.beta else 0.0
        if cfg.alpha:
            kl = F.kl_div(F.log_softmax(out.logits / temp, -1), F.softmax(t_logits / temp, -1),
                          reduction="batchmean")
            loss = loss + cfg.alpha * kl * temp * temp
        if self.captures is not None:
            from compress.relations import relation_loss

            student_qkv, teacher_qkv = (c.outputs for c in self.captures)
            loss = loss + cfg.relation * relation_loss(student_qkv, teacher_qkv,
                                                       self.relation_heads, batch["attention_mask"])
        if hidden:
            mask = batch["attention_mask"].unsqueeze(-1).to(out.logits.dtype)
            pairs = [self._distance(out.hidden_states[k + 1], t_hidden[t], mask)
                     for k, t in enumerate(self.layer_map)]
            loss = loss + cfg.gamma * torch.stack(pairs).mean()
        return loss

    def _distance(self, student: torch.Tensor, teacher: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
        if self.cfg.hidden_loss == "cosine":
            per_token = 1 - F.cosine_similarity(student, teacher, dim=-1).unsqueeze(-1)
        else:
            per_token = (student - teacher).pow(2).mean(-1, keepdim=True)
        return (per_token * mask).sum() / mask.sum()


def label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the rows that have a label; augmented copies (label -100) have none,
    and a batch of copies only adds nothing (not the NaN of a mean over no rows)."""
    if not bool((labels != -100).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels.to(logits.device), ignore_index=-100)


def _width(model: Any) -> int:
    return getattr(model.config, "hidden_size", None) or model.config.dim
