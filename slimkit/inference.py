"""Batched PyTorch inference over a Dataset: logits in row order."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from slimkit.batching import collate, encode, sorted_batches
from slimkit.data import Dataset


def predict_logits(model: Any, tokenizer: Any, dataset: Dataset, max_length: int,
                   batch_size: int = 64, progress: bool = True):
    """Logits as a float32 numpy array of shape (rows, labels); rows keep the dataset's order."""
    import numpy as np
    import torch

    encoded = encode(dataset, tokenizer, max_length)
    logits = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = list(sorted_batches(encoded.lengths(), batch_size))
    with torch.inference_mode():
        for indices in tqdm(batches, desc="evaluate", leave=False, disable=not progress):
            batch = collate(encoded, indices, tokenizer)
            batch.pop("labels")
            out = model(**{k: v.to(device) for k, v in batch.items()})
            logits[indices] = out.logits.float().cpu().numpy()
    model.train(was_training)
    return logits
