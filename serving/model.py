"""The served variant: a finished folder opened on its own backend, its tokenizer and label names,
and one function from texts to probabilities (what the batcher calls on its worker thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slimkit.data import Dataset
from slimkit.errors import RecipeError
from slimkit.inference import batched_logits


@dataclass
class Served:
    variant: Any
    folder: Path
    label_names: list[str]
    max_length: int
    pairs: bool | None  # None: a folder from before the manifest recorded it; both accepted

    def predict(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        rows = Dataset(texts, pairs, [0] * len(texts), self.label_names, "serve")
        logits = batched_logits(self.variant.runtime.logits, self.variant.tokenizer, rows,
                                self.max_length, batch_size=batch_size, progress=False)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def token_counts(self, texts: list[str], pairs: list[str] | None) -> list[int]:
        """Tokens each row would have untruncated (for ``too_long: refuse``)."""
        encoded = self.variant.tokenizer(texts, pairs, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def metadata(self, batching: dict[str, Any]) -> dict[str, Any]:
        manifest = self.variant.manifest
        return {"variant": manifest.variant, "folder": str(self.folder),
                "backend": manifest.backend, "precision": manifest.precision,
                "labels": self.label_names, "max_length": self.max_length,
                "text_pair": self.pairs, "lineage": manifest.lineage,
                "metrics": _headline(manifest.metrics), "batching": batching}


def _headline(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's scalar metrics (accuracy, F1, ...), not its per-class tables."""
    return {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float | str)}


def open_served(folder: str | Path, threads: int | None) -> Served:
    """A finished variant folder on the backend it was made for, with ``threads`` intra-op
    threads. Fails in one line on a folder slimkit did not finish."""
    from backends.registry import open_runtime
    from slimkit.artifacts import load_variant

    path = Path(folder)
    if not (path / "manifest.json").is_file():
        raise RecipeError(f"{path}: not a variant folder (no manifest.json)",
                          fix="serve a folder that `slimkit run` finished, e.g. runs/<recipe>/best")
    variant = load_variant(path)
    variant.runtime = open_runtime(variant, variant.backend, "cpu", threads)
    manifest = variant.manifest
    return Served(variant, path, list(manifest.label_names), manifest.max_length,
                  manifest.data.pairs)
