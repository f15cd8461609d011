"""The distillation loss in closed form: each term computed by hand on a 2-row, 3-class example.

A bug in the loss (reversed KL, a missing T², a wrong layer map, padding counted, cached logits
matched to the wrong rows) leaves an easy task's accuracy unchanged, so the maths is checked here.
"""

import math
from types import SimpleNamespace

import pytest
import torch

from compress.distill import DistillConfig
from compress.distill_loss import DistillLoss
from slimkit.errors import RecipeError

STUDENT_LOGITS = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]
TEACHER_LOGITS = [[1.0, 3.0, 0.0], [0.0, 0.0, 4.0]]
LABELS = [0, 1]
# mean over rows of -log softmax(student row)[label], by hand
LABEL_LOSS = sum(math.log(sum(math.exp(v) for v in row)) - row[label]
                 for row, label in zip(STUDENT_LOGITS, LABELS, strict=True)) / 2


class Fake:
    """A model whose outputs are fixed tensors: logits and hidden states per layer."""

    def __init__(self, logits, hidden=None, depth=2, width=2):
        self.config = SimpleNamespace(num_hidden_layers=depth, hidden_size=width)
        self.logits = torch.tensor(logits)
        self.hidden = hidden
        self.calls = []

    def eval(self):
        return self

    def to(self, device):
        return self

    def __call__(self, output_hidden_states=False, **batch):
        self.calls.append(batch)
        return SimpleNamespace(logits=self.logits,
                               hidden_states=self.hidden if output_hidden_states else None)


def softmax(row, temperature):
    exps = [math.exp(v / temperature) for v in row]
    return [e / sum(exps) for e in exps]


def kl_teacher_to_student(temperature):
    """mean over rows of sum_c p_teacher * log(p_teacher / p_student), at the temperature."""
    total = 0.0
    for s_row, t_row in zip(STUDENT_LOGITS, TEACHER_LOGITS, strict=True):
        p_s, p_t = softmax(s_row, temperature), softmax(t_row, temperature)
        total += sum(t * math.log(t / s) for s, t in zip(p_s, p_t, strict=True))
    return total / len(STUDENT_LOGITS)


def loss_of(alpha=0.0, beta=0.0, gamma=0.0, temperature=2.0, student=None, teacher=None,
            mask=None, hidden_loss="cosine"):
    cfg = DistillConfig(alpha=alpha, beta=beta, gamma=gamma, temperature=temperature,
                        hidden_loss=hidden_loss)
    student = student or Fake(STUDENT_LOGITS)
    teacher = teacher or Fake(TEACHER_LOGITS)
    mask = mask if mask is not None else torch.ones(2, 1, dtype=torch.long)
    batch = {"input_ids": torch.zeros_like(mask), "attention_mask": mask,
             "labels": torch.tensor(LABELS)}
    return float(DistillLoss(teacher, student, cfg)(student, batch, torch.tensor([0, 1])))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_target_term_is_kl_from_teacher_to_student_times_t_squared(temperature):
    expected = kl_teacher_to_student(temperature) * temperature ** 2
    assert loss_of(alpha=1.0, temperature=temperature) == pytest.approx(expected, rel=1e-5)
    # the two directions of KL differ on this example, so a reversed KL cannot pass
    reverse = sum(sum(s * math.log(s / t) for s, t in zip(softmax(a, temperature),
                                                           softmax(b, temperature), strict=True))
                  for a, b in zip(STUDENT_LOGITS, TEACHER_LOGITS, strict=True)) / 2
    assert abs(reverse * temperature ** 2 - expected) > 0.05


def test_the_terms_are_weighted_and_added():
    kl = kl_teacher_to_student(2.0) * 4
    assert loss_of(beta=1.0) == pytest.approx(LABEL_LOSS)
    assert loss_of(alpha=0.3, beta=0.7) == pytest.approx(0.3 * kl + 0.7 * LABEL_LOSS, rel=1e-5)
    assert loss_of(alpha=2.0, beta=0.0) == pytest.approx(2 * kl, rel=1e-5)


def hidden_states(*layers):
    """(embeddings, layer 1, ...) each of shape (rows=2, tokens=2, width=2)."""
    return tuple(torch.tensor(layer, dtype=torch.float32) for layer in layers)


X, Y, NEG_X = [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]
EMBED = [[Y, Y], [Y, Y]]


def test_student_layer_k_is_aligned_with_the_teacher_layer_the_map_gives():
    # teacher layers 2 and 4 equal the student's two layers; 1 and 3 are orthogonal to them
    student = Fake(STUDENT_LOGITS, hidden_states(EMBED, [[X, X], [X, X]], [[Y, Y], [Y, Y]]))
    teacher = Fake(TEACHER_LOGITS, hidden_states(EMBED, [[Y, Y], [Y, Y]], [[X, X], [X, X]],
                                                 [[X, X], [X, X]], [[Y, Y], [Y, Y]]), depth=4)
    mask = torch.ones(2, 2, dtype=torch.long)
    assert DistillLoss(teacher, student, DistillConfig()).layer_map == [2, 4]
    assert loss_of(gamma=1.0, student=student, teacher=teacher, mask=mask) == pytest.approx(0.0)
    # swap the student's layers: each now meets an orthogonal teacher layer, cosine distance 1
    swapped = Fake(STUDENT_LOGITS, hidden_states(EMBED, [[Y, Y], [Y, Y]], [[X, X], [X, X]]))
    assert loss_of(gamma=1.0, student=swapped, teacher=teacher, mask=mask) == pytest.approx(1.0)


@pytest.mark.parametrize(("student_depth", "teacher_depth", "expected"), [
    (2, 4, [2, 4]), (3, 6, [2, 4, 6]), (3, 4, [1, 2, 4]), (4, 4, [1, 2, 3, 4]), (1, 12, [12])])
def test_layer_map_spreads_the_student_over_the_teacher(student_depth, teacher_depth, expected):
    loss = DistillLoss(Fake(TEACHER_LOGITS, depth=teacher_depth),
                       Fake(STUDENT_LOGITS, depth=student_depth), DistillConfig())
    assert loss.layer_map == expected


def test_padding_tokens_do_not_count_in_the_hidden_state_distance():
    # row 0: token 0 matches (distance 0), token 1 is opposite (cosine distance 2) but padded;
    # row 1: token 0 orthogonal (1), token 1 matches (0). Mean over the 3 real tokens: 1/3.
    student = Fake(STUDENT_LOGITS, hidden_states(EMBED, [[X, X], [X, X]]), depth=1)
    teacher = Fake(TEACHER_LOGITS, hidden_states(EMBED, [[X, NEG_X], [Y, X]]), depth=1)
    mask = torch.tensor([[1, 0], [1, 1]])
    assert loss_of(gamma=1.0, student=student, teacher=teacher, mask=mask) == pytest.approx(1 / 3)
    # with every token real the opposite one counts: (0 + 2 + 1 + 0) / 4
    full = torch.ones(2, 2, dtype=torch.long)
    assert loss_of(gamma=1.0, student=student, teacher=teacher, mask=full) == pytest.approx(0.75)


def test_mse_distance_is_the_mean_square_per_token_over_real_tokens():
    student = Fake(STUDENT_LOGITS, hidden_states(EMBED, [[[1.0, 2.0], [0.0, 0.0]],
                                                         [[3.0, 0.0], [9.0, 9.0]]]), depth=1)
    teacher = Fake(TEACHER_LOGITS, hidden_states(EMBED, [[[1.0, 0.0], [0.0, 0.0]],
                                                         [[0.0, 0.0], [0.0, 0.0]]]), depth=1)
    mask = torch.tensor([[1, 1], [1, 0]])
    # per token: (0 + 4) / 2 = 2, 0, (9 + 0) / 2 = 4.5; the padded (81 + 81) / 2 is left out
    expected = (2.0 + 0.0 + 4.5) / 3
    assert loss_of(gamma=1.0, student=student, teacher=teacher, mask=mask,
                   hidden_loss="mse") == pytest.approx(expected)
    both = loss_of(alpha=1.0, beta=1.0, gamma=0.5, student=student, teacher=teacher, mask=mask,
                   hidden_loss="mse")
    assert both == pytest.approx(kl_teacher_to_student(2.0) * 4 + LABEL_LOSS + 0.5 * expected,
                                 rel=1e-5)


def test_hidden_alignment_between_unequal_widths_is_refused():
    with pytest.raises(RecipeError, match="equal widths, student 2 vs teacher 8"):
        DistillLoss(Fake(TEACHER_LOGITS, width=8), Fake(STUDENT_LOGITS), DistillConfig())
    DistillLoss(Fake(TEACHER_LOGITS, width=8), Fake(STUDENT_LOGITS), DistillConfig(gamma=0))


def test_cached_teacher_logits_are_picked_by_row_id_not_by_batch_position():
    teacher = Fake([[9.0, 9.0, 9.0]] * 2)
    cfg = DistillConfig(alpha=1.0, beta=0.0, gamma=0.0)
    loss = DistillLoss(teacher, Fake(STUDENT_LOGITS), cfg)
    # rows 5 and 2 of the training set hold the teacher logits of this batch's rows 0 and 1
    loss.cached = torch.tensor([[0.0] * 3] * 2 + [TEACHER_LOGITS[1]] + [[0.0] * 3] * 2
                               + [TEACHER_LOGITS[0]])
    batch = {"input_ids": torch.zeros(2, 1, dtype=torch.long),
             "attention_mask": torch.ones(2, 1, dtype=torch.long)}
    value = float(loss(Fake(STUDENT_LOGITS), batch, torch.tensor([5, 2])))
    assert value == pytest.approx(kl_teacher_to_student(2.0) * 4, rel=1e-5)
    assert teacher.calls == []  # the teacher does not run once its logits are cached


class BagOfWords(torch.nn.Module):
    """A teacher whose logits depend strongly on each row's tokens (and not on padding)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.config = SimpleNamespace(num_hidden_layers=2, hidden_size=16)
        self.weights = torch.nn.Parameter(torch.randn(vocab, 2, generator=torch.Generator().manual_seed(0)))

    def forward(self, input_ids, attention_mask, output_hidden_states=False, **_):
        per_token = self.weights[input_ids] * attention_mask.unsqueeze(-1)
        return SimpleNamespace(logits=per_token.sum(1), hidden_states=None)


def test_cached_logits_line_up_with_the_rows_fit_hands_the_loss(sentiment_files):
    """The cache is computed over ``training_rows``; fit's row_ids index the same order, so the
    cached loss equals the loss with the teacher run live on each batch."""
    from compress.training import fit
    from slimkit.data import load_splits
    from slimkit.models import load_base
    from slimkit.recipe import DataConfig, RandomModel

    shape = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 32, "hidden_dropout_prob": 0.0,  # two passes must agree
             "attention_probs_dropout_prob": 0.0}
    student, tokenizer = load_base(RandomModel(architecture="bert", **shape), ["0", "1"], seed=0)
    teacher = BagOfWords(len(tokenizer))
    splits = load_splits(DataConfig(train=str(sentiment_files[0]), eval=str(sentiment_files[1]),
                                    labels=["0", "1"]))
    cfg = DistillConfig(alpha=1.0, beta=0.0, gamma=0.0, temperature=1.0, max_train_samples=48,
                        epochs=1, batch_size=16, learning_rate=1e-3)
    cached = DistillLoss(teacher, student, cfg)
    cached.cache_logits(tokenizer, splits.train, max_length=24, seed=7)
    live = DistillLoss(teacher, student, cfg)
    compared = []

    def both(model, batch, row_ids):
        value = cached(model, batch, row_ids)
        compared.append((float(value), float(live(model, batch, row_ids))))
        return value

    fit(student, tokenizer, splits.train, splits.eval.subset([0, 1]), cfg, seed=7, max_length=24,
        loss_fn=both)
    assert len(compared) == 3
    for with_cache, without in compared:
        assert without > 0.1
        assert with_cache == pytest.approx(without, rel=1e-4)
