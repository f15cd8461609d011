"""What every inference backend gives the rest of slimkit: a runtime that turns a batch of numpy
token arrays into logits. The backends themselves live in ``backends/``, one file each."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

from slimkit.errors import SlimkitError


class Runtime(Protocol):
    name: str

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def require(module: str, extra: str) -> Any:
    """Import a backend or fail with the one line that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SlimkitError(f"{module} is not installed: install slimkit[{extra}]") from None


def feed_for(inputs: set[str], batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's inputs from a tokenizer batch; token types default to zeros (segment A) when
    the tokenizer does not produce them but the exported graph takes them."""
    feed = {k: v for k, v in batch.items() if k in inputs}
    if "token_type_ids" in inputs and "token_type_ids" not in feed:
        feed["token_type_ids"] = np.zeros_like(batch["input_ids"])
    return feed
