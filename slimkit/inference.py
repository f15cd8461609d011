"""Batched inference over a Dataset, for any backend: logits in row order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slimkit.batching import encode, sorted_batches
from slimkit.data import Dataset
from slimkit.progress import progress as progress_bar

Forward = Callable[[dict[str, Any]], Any]  # numpy int64 arrays in, (batch, labels) logits out


def batched_logits(forward: Forward, tokenizer: Any, dataset: Dataset, max_length: int,
                   batch_size: int = 64, progress: bool = True):
    """Run ``forward`` over length-sorted, dynamically padded batches; logits in dataset order."""
    import numpy as np

    encoded = encode(dataset, tokenizer, max_length)
    out = None
    for indices in progress_bar(list(sorted_batches(encoded.lengths(), batch_size)),
                                desc="evaluate", unit="batch", leave=False, enabled=progress):
        padded = tokenizer.pad([encoded.features[i] for i in indices], return_tensors="np")
        logits = np.asarray(forward({k: v.astype(np.int64) for k, v in padded.items()}))
        if out is None:
            out = np.zeros((len(encoded), logits.shape[1]), dtype=np.float32)
        out[indices] = logits
    return out


def torch_forward(model: Any) -> Forward:
    import torch

    device = next(model.parameters()).device

    def forward(batch: dict[str, Any]):
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            return model(**inputs).logits.float().cpu().numpy()
    return forward


def predict_logits(model: Any, tokenizer: Any, dataset: Dataset, max_length: int,
                   batch_size: int = 64, progress: bool = True):
    """Logits of a PyTorch model, as a float32 numpy array of shape (rows, labels)."""
    was_training = model.training
    model.eval()
    try:
        return batched_logits(torch_forward(model), tokenizer, dataset, max_length, batch_size,
                              progress)
    finally:
        model.train(was_training)
