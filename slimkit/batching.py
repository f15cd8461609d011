"""Tokenise a Dataset once, then cut it into dynamically padded batches (shared by train and eval)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slimkit.data import Dataset


@dataclass(frozen=True)
class Encoded:
    features: list[dict[str, list[int]]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> list[int]:
        return [len(f["input_ids"]) for f in self.features]


def encode(dataset: Dataset, tokenizer: Any, max_length: int) -> Encoded:
    out = tokenizer(dataset.texts, dataset.text_pairs, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in out]
    features = [{k: out[k][i] for k in keys} for i in range(len(dataset))]
    return Encoded(features, list(dataset.labels))


def collate(encoded: Encoded, indices: list[int], tokenizer: Any) -> dict[str, Any]:
    """Pad the chosen rows to their longest member; labels included."""
    import torch

    batch = tokenizer.pad([encoded.features[i] for i in indices], return_tensors="pt")
    batch["labels"] = torch.tensor([encoded.labels[i] for i in indices])
    return dict(batch)


def collate_with_rows(encoded: Encoded, indices: list[int], tokenizer: Any) -> dict[str, Any]:
    """``collate`` plus ``row_ids``: which encoded rows the batch holds (for per-row caches)."""
    import torch

    return {**collate(encoded, indices, tokenizer), "row_ids": torch.tensor(indices)}


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random,
                           group: int = 50) -> list[list[int]]:
    """Shuffled batches of similar length: little padding, still random order.

    Rows are shuffled, cut into groups of ``group`` batches, sorted by length within each group,
    cut into batches, and the batches shuffled.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = batch_size * group
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Batches in length order, for inference (results are put back in row order by the caller)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]
