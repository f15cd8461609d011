"""Distillation on more inputs than labels: changed copies of the training rows, labelled by the
teacher's soft targets; deterministic under a seed; the label term skips the copies."""

from __future__ import annotations

import random

import pytest
import torch

from compress.augment import NO_LABEL, AugmentConfig, augmented, changed
from compress.distill_loss import label_loss
from slimkit.data import Dataset
from slimkit.errors import RecipeError
from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import TEACHER_STAGE, seed_teacher, student_stage, tiny_recipe

ROWS = Dataset(["the film was a quiet delight from start to end", "a dull and tired plot"],
               ["one two three four", "five six seven eight"], [1, 0], ["0", "1"], "dev.tsv")


def test_copies_follow_the_rows_and_carry_no_label():
    cfg = AugmentConfig(multiplier=3, rate=0.3)
    rows = augmented(ROWS, cfg, 7, "[MASK]")
    assert len(rows) == 2 * (1 + 3) and rows.source == "dev.tsv (+3x augmented)"
    assert rows.texts[:2] == ROWS.texts and rows.labels == [1, 0] + [NO_LABEL] * 6
    assert rows.text_pairs[:2] == ROWS.text_pairs and len(rows.text_pairs) == 8
    assert all(copy != original for copy, original in zip(rows.texts[2:], ROWS.texts * 3, strict=True))


def test_the_same_seed_gives_the_same_rows_and_another_seed_others():
    cfg = AugmentConfig(multiplier=4)
    first, again = augmented(ROWS, cfg, 11, "[MASK]"), augmented(ROWS, cfg, 11, "[MASK]")
    assert (first.texts, first.text_pairs) == (again.texts, again.text_pairs)
    assert augmented(ROWS, cfg, 12, "[MASK]").texts != first.texts


def test_each_kind_changes_the_share_of_words_it_is_asked_to():
    text = "a b c d e f g h i j"
    rng = random.Random(0)
    masked = changed(text, "mask", 0.3, rng, "[MASK]").split()
    assert len(masked) == 10 and masked.count("[MASK]") == 3
    assert len(changed(text, "delete", 0.3, rng, None).split()) == 7
    swapped = changed(text, "swap", 0.2, rng, None).split()
    assert sorted(swapped) == sorted(text.split()) and swapped != text.split()
    assert changed("alone", "delete", 0.9, rng, None) == "alone"  # one word is left as it is


def test_masking_without_a_mask_token_is_refused():
    with pytest.raises(Exception, match="needs a tokenizer with a mask token"):
        augmented(ROWS, AugmentConfig(multiplier=1, kinds=["mask"]), 0, None)


def test_the_label_term_skips_the_copies():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, -5.0]], requires_grad=True)
    labels = torch.tensor([0, NO_LABEL, NO_LABEL])
    expected = torch.nn.functional.cross_entropy(logits[:1], labels[:1])
    assert torch.allclose(label_loss(logits, labels), expected)
    only_copies = label_loss(logits, torch.tensor([NO_LABEL] * 3))
    only_copies.backward()
    assert only_copies.item() == 0.0 and torch.isfinite(logits.grad).all()


def student(multiplier: int) -> str:
    return student_stage("max_train_samples: 96", "cache_teacher_logits: true",
                         f"augment: {{multiplier: {multiplier}, kinds: [mask, delete, swap]}}")


def test_a_distilled_student_trains_on_the_copies_too(tmp_path, sentiment_files, teacher_for):
    recipe = tiny_recipe(tmp_path, *sentiment_files, stages=TEACHER_STAGE + student(2))
    seed_teacher(tmp_path, teacher_for("bert"))
    registry = build_registry()
    made = {m.variant: m for m in execute(plan(recipe, registry), registry)}
    record = made["student"].distillation
    assert record["training_rows"] == 96 * 3 and record["augment"]["multiplier"] == 2
    assert made["student"].metrics["accuracy"] >= 0.85


def test_a_multiplier_of_zero_fails_validation_in_one_line(tmp_path, sentiment_files):
    recipe = tiny_recipe(tmp_path, *sentiment_files,
                         stages=TEACHER_STAGE + student(0))
    with pytest.raises(RecipeError) as caught:
        plan(recipe, build_registry())
    text = str(caught.value)
    assert "stages[1].augment.multiplier" in text and "\n" not in text
