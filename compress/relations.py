"""MiniLM-v2 self-attention relation transfer (Wang et al., 2021): the last layer's queries, keys
and values of teacher and student, each split into the same number of relation heads, give
scaled dot-product relations (softmax over the keys of X·Xᵀ/√d); the loss is the KL from the
teacher's relations to the student's, for Q-Q, K-K and V-V, over real tokens. Unlike hidden-state
alignment it needs neither equal widths nor equal head counts, only widths divisible by the
number of relation heads (the teacher's head count)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from slimkit import pruned_modeling as pm
from slimkit.errors import RecipeError


class LastLayerCapture:
    """Forward hooks that keep the last call's output of a layer's Q, K and V projections (an
    ALBERT layer runs many times: the last call is the last layer)."""

    def __init__(self, model: Any) -> None:
        self.outputs: list[torch.Tensor | None] = [None, None, None]
        parts = pm.layers(model)[-1]
        self.width = parts.qkv[0].out_features
        self.hooks = [linear.register_forward_hook(self._keep(i))
                      for i, linear in enumerate(parts.qkv)]

    def _keep(self, index: int):
        def hook(module, args, output):
            self.outputs[index] = output
        return hook

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()


def check_relation_heads(student_width: int, teacher_width: int, heads: int) -> None:
    for who, width in (("student", student_width), ("teacher", teacher_width)):
        if width % heads:
            raise RecipeError(f"the {who}'s last-layer width {width} does not split into {heads} "
                              "relation heads", field="relation", fix="set relation: 0")


def _log_relations(x: torch.Tensor, heads: int, mask: torch.Tensor) -> torch.Tensor:
    batch, seq, width = x.shape
    size = width // heads
    split = x.view(batch, seq, heads, size).transpose(1, 2)
    scores = split @ split.transpose(-1, -2) / math.sqrt(size)
    scores = scores.masked_fill(mask[:, None, None, :] == 0, -1e4)  # finite: 0 x (-inf) is NaN
    return F.log_softmax(scores, dim=-1)


def relation_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], heads: int,
                  mask: torch.Tensor) -> torch.Tensor:
    """Mean over Q, K, V of KL(teacher relations || student relations), per real query token."""
    real = mask.to(student[0].dtype)
    terms = []
    for s, t in zip(student, teacher, strict=True):
        t_log = _log_relations(t.detach(), heads, mask)
        s_log = _log_relations(s, heads, mask)
        kl = (t_log.exp() * (t_log - s_log)).sum(-1).mean(1)  # (batch, seq): mean over heads
        terms.append((kl * real).sum() / real.sum())
    return torch.stack(terms).mean()
