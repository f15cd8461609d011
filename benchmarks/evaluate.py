"""Score a variant on a Dataset."""

from __future__ import annotations

from typing import Any

from benchmarks.metrics import classification_metrics
from slimkit.data import Dataset
from slimkit.inference import batched_logits, predict_logits
from slimkit.runtimes import runtime_for
from slimkit.stage import Variant


def evaluate_model(model: Any, tokenizer: Any, dataset: Dataset, max_length: int,
                   batch_size: int = 64, progress: bool = True) -> dict[str, Any]:
    logits = predict_logits(model, tokenizer, dataset, max_length, batch_size, progress)
    predictions = logits.argmax(axis=1).tolist()
    return classification_metrics(dataset.labels, predictions, dataset.label_names)


def evaluate_variant(variant: Variant, dataset: Dataset, max_length: int,
                     batch_size: int = 64) -> dict[str, Any]:
    """Score a variant on the backend it targets (PyTorch, ONNX Runtime or OpenVINO)."""
    runtime = runtime_for(variant)
    logits = batched_logits(runtime.logits, variant.tokenizer, dataset, max_length, batch_size)
    predictions = logits.argmax(axis=1).tolist()
    return classification_metrics(dataset.labels, predictions, dataset.label_names)
