"""The training loop's checkpoint choice, on a planted evaluation schedule."""

import pytest
import torch

from compress import training
from compress.finetune import FinetuneConfig
from slimkit.data import load_splits
from slimkit.models import load_base
from slimkit.recipe import DataConfig, RandomModel

SHAPE = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 32}


def planted(monkeypatch, scores):
    """Replace the evaluation with scripted scores; remember the model's logits at each one."""
    seen = []

    def evaluate(model, tokenizer, rows, max_length, batch_size, progress):
        probe = tokenizer(["the film was great", "a boring plot"], padding=True,
                          return_tensors="pt")
        was_training = model.training
        model.eval()
        with torch.no_grad():
            seen.append(model(**probe).logits.clone())
        model.train(was_training)
        value = scores[len(seen) - 1]
        return {"accuracy": value, "f1": value}

    monkeypatch.setattr(training, "evaluate_model", evaluate)
    return seen


def fit_tiny(sentiment_files, **settings):
    model, tokenizer = load_base(RandomModel(architecture="bert", **SHAPE), ["0", "1"], seed=0)
    splits = load_splits(DataConfig(train=str(sentiment_files[0]), eval=str(sentiment_files[1]),
                                    labels=["0", "1"]))
    cfg = FinetuneConfig(batch_size=16, learning_rate=5e-3, max_train_samples=64, **settings)
    result = training.fit(model, tokenizer, splits.train, splits.eval, cfg, seed=0, max_length=24)
    probe = tokenizer(["the film was great", "a boring plot"], padding=True, return_tensors="pt")
    with torch.no_grad():
        return result, model(**probe).logits


def test_the_weights_kept_are_the_best_evaluations_not_the_last(monkeypatch, sentiment_files):
    seen = planted(monkeypatch, [0.6, 0.9, 0.7, 0.65])
    result, final = fit_tiny(sentiment_files, epochs=2, evals_per_epoch=2)
    assert [h["step"] for h in result.history] == [2, 4, 6, 8]  # 64 rows / 16 a batch
    assert result.best_step == 4 and result.best_metric == 0.9
    assert torch.allclose(final, seen[1])
    assert not torch.allclose(final, seen[-1]) and not torch.allclose(final, seen[0])
    assert result.best_scores == {"accuracy": 0.9, "f1": 0.9}


def test_early_stopping_waits_for_its_patience_then_keeps_the_best(monkeypatch, sentiment_files):
    seen = planted(monkeypatch, [0.8, 0.7, 0.75, 0.9, 0.95])
    result, final = fit_tiny(sentiment_files, epochs=5, early_stopping_patience=2)
    assert result.stopped_early and len(seen) == 3 and result.steps == 12
    assert result.best_step == 4
    assert torch.allclose(final, seen[0])


def test_a_tie_does_not_replace_the_earlier_checkpoint(monkeypatch, sentiment_files):
    seen = planted(monkeypatch, [0.8, 0.8])
    result, final = fit_tiny(sentiment_files, epochs=2)
    assert result.best_step == 4
    assert torch.allclose(final, seen[0]) and not torch.allclose(final, seen[1])


@pytest.mark.parametrize(("per_epoch", "steps"), [(1, [4, 8]), (2, [2, 4, 6, 8]), (3, [2, 3, 4, 6, 7, 8])])
def test_evaluation_points_are_spread_evenly_through_each_epoch(per_epoch, steps):
    cfg = FinetuneConfig(epochs=2, evals_per_epoch=per_epoch)
    assert sorted(training._eval_steps(4, cfg)) == steps
