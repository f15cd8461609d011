"""slimkit: compress a fine-tuned transformer classifier and prove what each step cost and gained.

``import slimkit`` stays light: torch, transformers and every runtime backend load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from slimkit.stage import Variant


def load(path: str) -> Variant:
    """Load a variant folder written by ``slimkit run``: model, tokenizer and manifest, one call."""
    from slimkit.artifacts import load_variant

    return load_variant(path)


__all__ = ["__version__", "load"]
