"""More inputs for distillation than there are labels: changed copies of each training row (words
masked, deleted or swapped with a neighbour), which the teacher labels with its soft targets.

A copy carries no label (``NO_LABEL``): the label term of the loss skips it, the soft-target and
hidden-state terms use it. Copies are made from a seeded generator in row order, so the same
seed gives the same rows (and the teacher's cached logits stay matched to them by row id)."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from slimkit.data import Dataset
from slimkit.errors import SlimkitError

NO_LABEL = -100  # what torch's cross-entropy ignores by default
Kind = Literal["mask", "delete", "swap"]


class AugmentConfig(BaseModel):
    """``augment:`` of a distill stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    multiplier: PositiveInt = Field(description="changed copies of each training row", le=64)
    kinds: list[Kind] = Field(["mask", "delete", "swap"], min_length=1,
                              description="changes a copy draws from (one per copy)")
    rate: float = Field(0.15, gt=0, lt=1, description="share of a text's words changed")


def augmented(rows: Dataset, cfg: AugmentConfig, seed: int, mask_token: str | None) -> Dataset:
    """``rows`` first (labels kept), then ``cfg.multiplier`` changed copies of each, unlabeled."""
    if "mask" in cfg.kinds and not mask_token:
        raise SlimkitError("augment kind 'mask' needs a tokenizer with a mask token; "
                           "use kinds: [delete, swap]")
    rng = random.Random(seed)
    texts, labels = list(rows.texts), list(rows.labels)
    pairs = list(rows.text_pairs) if rows.text_pairs is not None else None
    for _ in range(cfg.multiplier):
        for i in range(len(rows)):
            kind = rng.choice(cfg.kinds)
            texts.append(changed(rows.texts[i], kind, cfg.rate, rng, mask_token))
            if pairs is not None:
                pairs.append(changed(rows.text_pairs[i], kind, cfg.rate, rng, mask_token))
            labels.append(NO_LABEL)
    return Dataset(texts, pairs, labels, rows.label_names,
                   f"{rows.source} (+{cfg.multiplier}x augmented)")


def changed(text: str, kind: str, rate: float, rng: random.Random, mask_token: str | None) -> str:
    """One copy of ``text`` with about ``rate`` of its words changed (at least one)."""
    words = text.split()
    if len(words) < 2:
        return text
    count = max(1, round(rate * len(words)))
    if kind == "swap":
        for _ in range(count):
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    chosen = set(rng.sample(range(len(words)), min(count, len(words) - 1)))
    if kind == "mask":
        return " ".join(mask_token if i in chosen else w for i, w in enumerate(words))
    return " ".join(w for i, w in enumerate(words) if i not in chosen)
