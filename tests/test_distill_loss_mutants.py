"""What tests/test_distill_loss.py leaves open (tests/MUTATION.md lists the mutants these kill):
the student ``build_student`` makes (layers kept, a copy, seeded re-initialisation, a student from a
folder), and the loss's edges: cosine ignores scale, a zero weight never touches its term, the
teacher follows the student's device, which rows are cached, a width named ``dim``, the error line.
Tiny BERTs built in memory and fixed tensors, no training."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from compress.distill import DistillConfig
from compress.distill_loss import DistillLoss, build_student
from slimkit.data import Dataset
from slimkit.errors import RecipeError
from slimkit.stage import Variant

QUERY = "bert.encoder.layer.{}.attention.self.query.weight"


def tiny_bert(depth: int = 4, num_labels: int = 3, seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(
        vocab_size=40, hidden_size=8, num_hidden_layers=depth, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=16, num_labels=num_labels))


def query(model, layer: int) -> torch.Tensor:
    return model.state_dict()[QUERY.format(layer)]


def test_all_layers_is_a_full_copy_of_the_parent():
    parent = Variant("teacher", tiny_bert())
    student, kept = build_student(parent, DistillConfig(), seed=0)
    assert kept == [0, 1, 2, 3]
    assert student is not parent.model and student.config.num_hidden_layers == 4
    assert all(torch.equal(v, parent.model.state_dict()[k]) for k, v in student.state_dict().items())
    with torch.no_grad():
        query(student, 0).zero_()
    assert query(parent.model, 0).abs().sum() > 0  # the parent is left alone


@pytest.mark.parametrize("depth, layers, expected", [
    (4, "every_other", [0, 2]), (5, "every_other", [0, 2, 4]), (6, "every_other", [0, 2, 4]),
    (4, [1, 3], [1, 3]), (4, [2], [2])])
def test_the_student_keeps_the_listed_parent_layers_in_order(depth, layers, expected):
    parent = Variant("teacher", tiny_bert(depth))
    student, kept = build_student(parent, DistillConfig(layers=layers), seed=0)
    assert kept == expected
    assert student.config.num_hidden_layers == len(expected)
    assert len(student.bert.encoder.layer) == len(expected)
    for new, old in enumerate(expected):
        assert torch.equal(query(student, new), query(parent.model, old))
    assert parent.model.config.num_hidden_layers == depth and len(parent.model.bert.encoder.layer) == depth


def test_random_init_is_seeded_and_replaces_the_copied_weights():
    parent = Variant("teacher", tiny_bert())
    cfg = DistillConfig(layers="every_other", init="random")
    fresh, kept = build_student(parent, cfg, seed=5)
    again, _ = build_student(parent, cfg, seed=5)
    other, _ = build_student(parent, cfg, seed=6)
    assert kept == [0, 2]
    assert torch.equal(query(fresh, 1), query(again, 1))  # same seed, same student
    assert not torch.equal(query(fresh, 1), query(other, 1))
    assert not torch.equal(query(fresh, 1), query(parent.model, 2))
    copied, _ = build_student(parent, DistillConfig(layers="every_other"), seed=5)
    assert torch.equal(query(copied, 1), query(parent.model, 2))  # init: parent keeps the weights


def test_a_student_folder_is_loaded_with_the_parents_label_count(tmp_path):
    saved = tiny_bert(depth=2, num_labels=5, seed=1)
    saved.save_pretrained(tmp_path / "small")
    parent = Variant("teacher", tiny_bert(depth=4, num_labels=3))
    student, kept = build_student(parent, DistillConfig(student=str(tmp_path / "small")), seed=0)
    assert kept is None  # its layers are not the parent's
    assert student.config.num_hidden_layers == 2 and student.config.num_labels == 3
    assert student.classifier.out_features == 3
    assert torch.equal(query(student, 1), query(saved, 1))


class Model:
    """Fixed outputs: logits, a label loss (None: called without labels) and hidden states."""

    def __init__(self, logits, hidden=None, depth=1, loss=None, **config):
        self.config = SimpleNamespace(num_hidden_layers=depth, **(config or {"hidden_size": 2}))
        self.logits, self.hidden, self.loss = torch.tensor(logits), hidden, loss
        self.moved_to = []

    def eval(self):
        return self

    def to(self, device):
        self.moved_to.append(device)
        return self

    def __call__(self, output_hidden_states=False, **batch):
        return SimpleNamespace(logits=self.logits, loss=self.loss,
                               hidden_states=self.hidden if output_hidden_states else None)


LOGITS = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]
BATCH = {"input_ids": torch.zeros(2, 1, dtype=torch.long),
         "attention_mask": torch.ones(2, 1, dtype=torch.long)}


def test_cosine_distance_ignores_scale_where_mse_does_not():
    # every token of the student is twice the teacher's: same direction, cosine distance 0;
    # squared difference per token ((2 - 1)^2 + (4 - 2)^2) / 2 = 2.5
    teacher_states = (torch.zeros(2, 1, 2), torch.tensor([[[1.0, 2.0]], [[1.0, 2.0]]]))
    student_states = (torch.zeros(2, 1, 2), 2 * teacher_states[1])
    for hidden_loss, expected in (("cosine", 0.0), ("mse", 2.5)):
        cfg = DistillConfig(alpha=0.0, beta=0.0, gamma=1.0, hidden_loss=hidden_loss)
        student, teacher = Model(LOGITS, student_states), Model(LOGITS, teacher_states)
        value = float(DistillLoss(teacher, student, cfg)(student, BATCH, torch.tensor([0, 1])))
        assert value == pytest.approx(expected, abs=1e-6), hidden_loss


def test_with_beta_zero_the_label_loss_is_never_used():
    # a student called without labels reports no loss; alpha alone must still work
    student, teacher = Model(LOGITS, loss=None), Model(LOGITS)
    cfg = DistillConfig(alpha=1.0, beta=0.0, gamma=0.0)
    value = DistillLoss(teacher, student, cfg)(student, BATCH, torch.tensor([0, 1]))
    assert float(value) == pytest.approx(0.0, abs=1e-6)  # identical logits: KL 0


def test_the_live_teacher_is_moved_to_the_students_device():
    student, teacher = Model(LOGITS), Model(LOGITS)
    DistillLoss(teacher, student, DistillConfig(gamma=0.0, beta=0.0))(student, BATCH, torch.tensor([0, 1]))
    assert teacher.moved_to == [torch.device("cpu")]


def test_only_the_rows_fit_trains_on_are_cached(monkeypatch):
    import slimkit.inference
    from compress.training import training_rows

    train = Dataset([f"row {i}" for i in range(10)], None, [i % 2 for i in range(10)], ["0", "1"], "t")
    seen = []

    def predict_logits(model, tokenizer, rows, max_length):
        seen.append((model, tokenizer, rows, max_length))
        return np.arange(len(rows) * 2, dtype=np.float32).reshape(-1, 2)

    monkeypatch.setattr(slimkit.inference, "predict_logits", predict_logits)
    teacher = Model(LOGITS)
    loss = DistillLoss(teacher, Model(LOGITS), DistillConfig(gamma=0.0, max_train_samples=4))
    loss.cache_logits("tokenizer", train, max_length=24, seed=3)
    [(model, tokenizer, rows, max_length)] = seen
    assert (model, tokenizer, max_length) == (teacher, "tokenizer", 24)
    assert rows == training_rows(train, 4, 3) and len(rows) == 4
    assert torch.equal(loss.cached, torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]))


def test_a_width_named_dim_counts_and_unequal_widths_are_one_line():
    # DistilBERT-style configs name the width ``dim``
    teacher = Model(LOGITS, depth=2, dim=4)
    DistillLoss(teacher, Model(LOGITS, dim=4), DistillConfig(gamma=1.0))
    with pytest.raises(RecipeError) as err:
        DistillLoss(teacher, Model(LOGITS, hidden_size=2), DistillConfig(gamma=1.0))
    assert str(err.value) == ("gamma: hidden-state alignment needs equal widths, student 2 vs teacher 4 "
                              "(set gamma: 0 for a student of another width)")
