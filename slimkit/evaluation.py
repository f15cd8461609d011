"""Score a model, or any backend's runtime, on a Dataset."""

from __future__ import annotations

from typing import Any

from slimkit.data import Dataset
from slimkit.inference import batched_logits, predict_logits
from slimkit.metrics import classification_metrics
from slimkit.runtime import Runtime


def evaluate_model(model: Any, tokenizer: Any, dataset: Dataset, max_length: int,
                   batch_size: int = 64, progress: bool = True) -> dict[str, Any]:
    logits = predict_logits(model, tokenizer, dataset, max_length, batch_size, progress)
    predictions = logits.argmax(axis=1).tolist()
    return classification_metrics(dataset.labels, predictions, dataset.label_names)


def evaluate_runtime(runtime: Runtime, tokenizer: Any, dataset: Dataset, max_length: int,
                     batch_size: int = 64) -> dict[str, Any]:
    """Score a variant on the runtime of the backend it targets (``backends.registry.runtime_for``)."""
    logits = batched_logits(runtime.logits, tokenizer, dataset, max_length, batch_size)
    predictions = logits.argmax(axis=1).tolist()
    return classification_metrics(dataset.labels, predictions, dataset.label_names)
