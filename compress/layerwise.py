"""The torch side of ``compress/strategies.py``: each parameter's depth in the model, the optimizer's
parameter groups with their layer-wise rates, freezing and gradual unfreezing, the finetune loss
with label smoothing / class weights, and checkpoint averaging.

Depth: 0 the embeddings, 1..L the encoder layers, L + 1 the head (classifier, pooler). Weights
of the encoder outside its layers (DeBERTa's relative embeddings, ALBERT's projection) count as
layer 1; ALBERT's one shared layer is layer 1 too."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slimkit import pruned_modeling as pm


def depths(model: nn.Module) -> tuple[dict[str, int], int]:
    """({parameter name: depth}, L) for a BERT-family classifier."""
    prefix, top = model.base_model_prefix, model.config.num_hidden_layers
    try:
        path = pm.FAMILIES[pm.family(model.config.model_type)][0]
    except ValueError:  # a family without structured pruning: the common layout
        path = "encoder.layer"
    layers = f"{prefix}.{path}."
    out = {}
    for name, _ in model.named_parameters():
        if name.startswith(layers):
            index = name[len(layers):].split(".")[0]
            out[name] = int(index) + 1 if index.isdigit() and top > 1 else 1
        elif name.startswith(f"{prefix}.embeddings."):
            out[name] = 0
        elif name.startswith(f"{prefix}.") and "pooler" not in name:
            out[name] = 1
        else:
            out[name] = top + 1
    return out, top


def rate_at(depth: int, top: int, cfg: Any) -> float:
    """Head: head_learning_rate (or learning_rate); layer d: learning_rate * lr_decay^(L - d), so
    the top layer trains at learning_rate and the embeddings (d = 0) slowest."""
    if depth > top:
        return cfg.head_learning_rate or cfg.learning_rate
    return cfg.learning_rate * (cfg.lr_decay ** (top - depth) if cfg.lr_decay else 1.0)


def param_groups(model: nn.Module, cfg: Any) -> list[dict[str, Any]]:
    """AdamW groups by (depth, decayed or not); frozen weights are left out, weights that gradual
    unfreezing will wake are in (AdamW skips a weight while it has no gradient)."""
    depth, top = depths(model)
    frozen = frozen_depths(cfg, top)
    groups: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if depth[name] in frozen:
            continue
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((depth[name], no_decay), []).append(param)
    return [{"params": params, "depth": d, "lr": rate_at(d, top, cfg),
             "weight_decay": 0.0 if no_decay else cfg.weight_decay}
            for (d, no_decay), params in sorted(groups.items())]


def frozen_depths(cfg: Any, top: int) -> set[int]:
    freeze = cfg.freeze
    if freeze is None:
        return set()
    out = set(range(top + 1)) if freeze.encoder else set()
    out |= {0} if freeze.embeddings else set()
    return out | set(range(1, min(freeze.layers, top) + 1))


def apply_freeze(model: nn.Module, cfg: Any) -> int:
    """Turn off the gradients of the frozen depths; the number of weights frozen."""
    depth, top = depths(model)
    frozen = frozen_depths(cfg, top)
    count = 0
    for name, param in model.named_parameters():
        if depth[name] in frozen:
            param.requires_grad_(False)
            count += param.numel()
    return count


class Unfreezer:
    """Gradual unfreezing: at step s the depths from L - k up train, k = s // pace."""

    def __init__(self, model: nn.Module, cfg: Any, steps_per_epoch: int) -> None:
        self.model, (self.depth, self.top) = model, depths(model)
        pace = cfg.gradual_unfreeze
        self.every = pace.every_steps or steps_per_epoch
        self.lowest: int | None = None
        self.events: list[dict[str, int]] = []  # for the manifest: when each depth woke

    def at(self, step: int) -> None:
        lowest = max(0, self.top - step // self.every)
        if lowest == self.lowest:
            return
        self.lowest = lowest
        for name, param in self.model.named_parameters():
            param.requires_grad_(self.depth[name] >= lowest)
        self.events.append({"step": step, "lowest_depth": lowest})


def label_loss(cfg: Any, labels: list[int], num_labels: int):
    """The finetune loss when label_smoothing or class_weights ask for more than the model's own
    cross-entropy; None otherwise. 'balanced' weighs each label by rows / (labels * its rows)."""
    if not cfg.label_smoothing and cfg.class_weights is None:
        return None
    weights = cfg.class_weights
    if weights == "balanced":
        counts = [max(1, labels.count(i)) for i in range(num_labels)]
        weights = [len(labels) / (num_labels * c) for c in counts]
    weight = torch.tensor(weights, dtype=torch.float32) if weights is not None else None

    def loss(model: nn.Module, batch: dict[str, Any], row_ids: Any) -> torch.Tensor:
        targets = batch.pop("labels")
        logits = model(**batch).logits
        w = weight.to(logits.device) if weight is not None else None
        return nn.functional.cross_entropy(logits, targets, weight=w,
                                           label_smoothing=cfg.label_smoothing)
    return loss


def average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of several checkpoints; integer buffers (position ids) from the last one."""
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            out[key] = torch.stack([s[key] for s in states]).mean(dim=0)
        else:
            out[key] = last
    return out
