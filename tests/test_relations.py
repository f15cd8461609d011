"""MiniLM-v2 relation transfer: the KL from the teacher's last-layer Q-Q / K-K / V-V relations to
the student's, checked in closed form, with padding left out; and a student distilled with it."""

from __future__ import annotations

import math

import pytest
import torch

from compress.relations import relation_loss
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import TEACHER_STAGE, seed_teacher, student_stage, tiny_recipe


def test_equal_relations_cost_nothing_and_unequal_ones_cost_their_kl():
    mask = torch.ones(1, 2, dtype=torch.long)
    same = [torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])] * 3
    assert float(relation_loss(same, same, heads=1, mask=mask)) == pytest.approx(0.0, abs=1e-7)
    # teacher: two orthogonal unit tokens -> each query's relation is softmax([1, 0] / sqrt 2);
    # student: all zeros -> uniform [0.5, 0.5]; KL(teacher || uniform) per query, same for both
    p = 1 / (1 + math.exp(-1 / math.sqrt(2)))
    expected = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    zeros = [torch.zeros(1, 2, 2, requires_grad=True) for _ in range(3)]
    value = relation_loss(zeros, same, heads=1, mask=mask)
    assert float(value) == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert all(z.grad is not None for z in zeros)


def test_padding_is_neither_a_query_nor_a_key():
    teacher = [torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])] * 3
    student = [torch.tensor([[[0.5, 0.0], [0.0, 2.0], [0.0, 0.0]]])] * 3
    mask = torch.tensor([[1, 1, 0]])
    base = float(relation_loss(student, teacher, heads=1, mask=mask))
    changed = [torch.tensor([[[0.5, 0.0], [0.0, 2.0], [9.0, -9.0]]])] * 3  # only the pad moves
    assert float(relation_loss(changed, teacher, heads=1, mask=mask)) == pytest.approx(base)
    two = [x[:, :2] for x in student], [x[:, :2] for x in teacher]
    assert float(relation_loss(*two, heads=1, mask=mask[:, :2])) == pytest.approx(base)


def test_a_student_learns_with_relations_and_logits(tmp_path, sentiment_files, teacher_for):
    stages = TEACHER_STAGE + student_stage("relation: 1.0")
    seed_teacher(tmp_path, teacher_for("bert"))
    registry = build_registry()
    made = {m.variant: m for m in execute(plan(tiny_recipe(tmp_path, *sentiment_files,
                                                           stages=stages), registry), registry)}
    assert made["student"].metrics["accuracy"] >= 0.85
    assert made["student"].stage_config["relation"] == 1.0


def test_relations_need_the_live_teacher(tmp_path, sentiment_files):
    stages = TEACHER_STAGE + student_stage("relation: 1.0", "cache_teacher_logits: true")
    with pytest.raises(RecipeError) as caught:
        plan(tiny_recipe(tmp_path, *sentiment_files, stages=stages), build_registry())
    assert "gamma or relation > 0" in str(caught.value) and "\n" not in str(caught.value)
