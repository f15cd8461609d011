"""slimkit: compress a fine-tuned transformer classifier and prove what each step cost and gained.

``import slimkit`` stays light: torch, transformers and every runtime backend load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from slimkit.stage import Variant


def load(path: str, device: str = "cpu") -> Variant:
    """Load a variant folder written by ``slimkit run``: model, tokenizer, manifest, and the
    runtime of the backend it was made for, so that ``variant.predict(texts)`` works. One call."""
    from backends.registry import runtime_for
    from slimkit.artifacts import load_variant

    variant = load_variant(path)
    variant.runtime = runtime_for(variant, device)
    return variant


__all__ = ["__version__", "load"]
