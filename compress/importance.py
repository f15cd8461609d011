"""Importance scores for heads, FFN neurons and layers, measured on batches of training rows."""

from __future__ import annotations

import random
from typing import Any

import torch

from slimkit import pruned_modeling as pm
from slimkit.batching import collate, encode, length_grouped_batches
from slimkit.data import Dataset


def scoring_batches(model: Any, tokenizer: Any, rows: Dataset, count: int, batch_size: int,
                    max_length: int, seed: int):
    """``count`` seeded batches of training rows, padded and on the model's device."""
    rng = random.Random(seed)
    picked = rows.subset(rng.sample(range(len(rows)), min(len(rows), count * batch_size)))
    encoded = encode(picked, tokenizer, max_length)
    device = next(model.parameters()).device
    for indices in length_grouped_batches(encoded.lengths(), batch_size, rng):
        yield {k: v.to(device) for k, v in collate(encoded, indices, tokenizer).items()}


def head_gradient_importance(model: Any, batches) -> list[torch.Tensor]:
    """Michel et al. (2019): |dL/dg| for a gate g=1 multiplying each head's context, per layer,
    normalised per layer by its L2 norm."""
    parts = pm.layers(model)
    gates = [torch.ones(p.heads, requires_grad=True) for p in parts]
    hooks = [p.output.register_forward_pre_hook(_gate_hook(g, p.head_size))
             for g, p in zip(gates, parts, strict=True)]
    scores = [torch.zeros(p.heads) for p in parts]
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            model(**batch).loss.backward()
            for score, gate in zip(scores, gates, strict=True):
                score += gate.grad.abs()
                gate.grad = None
    finally:
        for hook in hooks:
            hook.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return [s / (s.norm() + 1e-12) for s in scores]


def _gate_hook(gate: torch.Tensor, head_size: int):
    def hook(module, args):
        context = args[0]
        shape = context.shape
        gated = context.view(*shape[:-1], -1, head_size) * gate.to(context.dtype)[:, None]
        return (gated.view(shape), *args[1:])
    return hook


def head_magnitude_importance(model: Any) -> list[torch.Tensor]:
    """L2 norm of each head's slice of Q, K, V rows and output-projection columns."""
    scores = []
    for parts in pm.layers(model):
        size, heads = parts.head_size, parts.heads
        total = torch.zeros(heads)
        for linear in parts.qkv:
            total += linear.weight.detach().view(heads, size, -1).pow(2).sum((1, 2)).cpu()
        total += parts.output.weight.detach().view(-1, heads, size).pow(2).sum((0, 2)).cpu()
        scores.append(total.sqrt())
    return scores


def neuron_importance(model: Any, batches, criterion: str) -> list[torch.Tensor]:
    """Per FFN neuron: |activation x gradient| summed over tokens (Taylor), or weight magnitude."""
    parts = pm.layers(model)
    if criterion == "magnitude":
        return [(p.ffn_in.weight.detach().pow(2).sum(1) + p.ffn_out.weight.detach().pow(2).sum(0))
                .sqrt().cpu() for p in parts]
    captured: dict[int, torch.Tensor] = {}
    hooks = [p.ffn_out.register_forward_pre_hook(_capture(captured, i)) for i, p in enumerate(parts)]
    scores = [torch.zeros(p.ffn_in.out_features) for p in parts]
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            captured.clear()
            model(**batch).loss.backward()
            for index, activations in captured.items():
                for act in activations:
                    scores[index] += (act * act.grad).sum(dim=tuple(range(act.ndim - 1))).abs().cpu()
    finally:
        for hook in hooks:
            hook.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return scores


def _capture(store: dict[int, list[torch.Tensor]], index: int):
    def hook(module, args):
        args[0].retain_grad()
        store.setdefault(index, []).append(args[0])
    return hook


@torch.no_grad()
def layer_importance(model: Any, batches) -> list[float]:
    """Loss increase when each layer is skipped (its input passed straight through)."""
    batches = list(batches)
    was_training = model.training
    model.eval()
    base = _mean_loss(model, batches)
    scores = []
    try:
        for layer in pm.layer_list(model):
            hook = layer.register_forward_hook(_skip)
            try:
                scores.append(_mean_loss(model, batches) - base)
            finally:
                hook.remove()
    finally:
        model.train(was_training)
    return scores


def _skip(module, args, output):
    hidden = args[0]
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


def _mean_loss(model: Any, batches: list[dict[str, Any]]) -> float:
    return sum(model(**b).loss.item() for b in batches) / max(1, len(batches))
