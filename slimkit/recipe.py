"""The recipe: YAML with ``${VAR:-default}`` interpolation, validated by pydantic before any work."""

from __future__ import annotations

import difflib
import types
import typing
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from slimkit.errors import RecipeError
from slimkit.recipe_paths import anchor_paths, interpolate
from slimkit.settings import BenchmarkConfig, SearchConfig

if TYPE_CHECKING:
    from slimkit.manifest import Manifest

ARCHITECTURES = ("bert", "roberta", "albert", "distilbert", "electra", "deberta-v2", "xlm-roberta")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    """Where the examples come from and how they are read."""

    format: Literal["auto", "tsv", "csv", "jsonl", "hf"] = "auto"
    dataset: str | None = Field(
        None, description="a Hugging Face datasets name; train/eval/validation are then split names")
    train: str | None = None
    eval: str
    validation: str | None = Field(
        None, description="rows for choosing the best checkpoint; the eval rows when unset")
    text: str | int = "sentence"
    text_pair: str | int | None = None
    label: str | int = "label"
    labels: list[str] | None = Field(
        None, min_length=2, description="the label set, in id order (two or more, each once)")
    header: bool = True
    dataset_config: str | None = Field(None, description="Hugging Face datasets config name")
    max_length: PositiveInt = 128
    max_eval_samples: PositiveInt | None = None
    max_file_mb: PositiveInt = Field(1024, description="refuse a data file larger than this")
    max_row_chars: PositiveInt = Field(
        100_000, le=131_072, description="refuse a data line longer than this (a broken file)")

    @field_validator("labels")
    @classmethod
    def _labels_once(cls, labels: list[str] | None) -> list[str] | None:
        # counted once, not name by name: a hostile list of thousands must still fail at once
        twice = sorted(name for name, seen in Counter(labels or ()).items() if seen > 1)
        if twice:
            more = f" (and {len(twice) - 5} others)" if len(twice) > 5 else ""
            raise ValueError(f"labels lists {twice[:5]}{more} more than once: each label names one "
                             "class id")
        return labels


class RandomModel(Strict):
    """A randomly initialised model of a given shape (for tests and smoke runs)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    architecture: Literal[ARCHITECTURES]
    tokenizer: str = "minilm-l6"


class Recipe(Strict):
    name: str
    # numpy's (and so accelerate's set_seed) range: a seed outside it fails at the first training
    seed: int = Field(42, ge=0, le=2**32 - 1, description="seeds torch, numpy and Python's random")
    output_dir: str = "runs"
    threads: PositiveInt | None = None
    model: str | RandomModel
    data: DataConfig
    stages: list[dict[str, Any]] = Field(min_length=1)
    benchmark: BenchmarkConfig | None = Field(
        None, description="measure every variant after the stages (slimkit bench)")
    search: SearchConfig | None = Field(
        None, description="publish the fastest variant within an accuracy budget as 'best'")

    @model_validator(mode="after")
    def _train_needed(self) -> Recipe:
        if self.data.train is None:
            raise ValueError("data.train is required: stages train or calibrate on it")
        return self

    @model_validator(mode="after")
    def _search_is_measured(self) -> Recipe:
        if self.search is None:
            return self
        bench = self.benchmark
        if bench is None:
            raise ValueError("search needs a benchmark: block to measure the variants")
        search = self.search
        for what, value, measured in (("batch_size", search.batch_size, bench.batch_sizes),
                                      ("seq_len", search.seq_len, bench.seq_lens),
                                      ("device", search.device, bench.devices)):
            if value not in measured:
                raise ValueError(f"search.{what} {value} is not measured by benchmark ({measured})")
        if search.backend and bench.backends is not None and search.backend not in bench.backends:
            raise ValueError(f"search.backend {search.backend} is not in benchmark.backends")
        return self


def recipe_of(manifest: Manifest) -> Recipe:
    """The recipe a variant was made by: as resolved when it ran (paths absolute), or, for
    manifests written before that was kept, from its text with paths taken from its folder."""
    kept = manifest.recipe
    if kept.resolved is not None:
        return Recipe.model_validate(kept.resolved)
    raw = yaml.safe_load(kept.text)
    return Recipe.model_validate(interpolate(anchor_paths(raw, Path(kept.path).parent)))


def read_recipe_yaml(path: str | Path) -> dict[str, Any]:
    raw = read_yaml_mapping(path, "recipe", "start with 'name:', 'model:', 'data:' and 'stages:'")
    raw = interpolate(anchor_paths(raw, Path(path).parent))
    raw.setdefault("name", Path(path).stem)
    return raw


def read_yaml_mapping(path: str | Path, what: str, example: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; a missing, hostile or bad file is one RecipeError."""
    from slimkit.safe_yaml import read_bounded_yaml

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{what} file not found", file=str(path), fix="check the path")
    raw = read_bounded_yaml(path, what)
    if not isinstance(raw, dict):
        raise RecipeError(f"a {what} must be a mapping of keys", file=str(path), fix=example)
    return raw


def parse_model(cls: type[BaseModel], raw: Any, *, file: str, prefix: str = "") -> Any:
    """``cls.model_validate(raw)`` with the first error rendered as one RecipeError line."""
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise recipe_error_from(exc, cls, file=file, prefix=prefix) from None


def recipe_error_from(exc: ValidationError, cls: type[BaseModel], *, file: str,
                      prefix: str = "") -> RecipeError:
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"]]
    field = ".".join(p for p in [prefix, *loc] if p).replace(".[", "[")
    problem, fix = _describe(first, cls)
    if len(errors) > 1:
        fix = f"{fix}; {len(errors) - 1} more error(s) after this one"
    return RecipeError(problem, file=file, field=field or None, fix=fix)


def _describe(error: dict[str, Any], cls: type[BaseModel]) -> tuple[str, str]:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        allowed = sorted(_model_at(cls, loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return "unknown key", f"{hint}allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing", "add it"
    if kind == "literal_error":
        return f"{error['msg'].lower()}, got {_shown(error.get('input'))}", "use one of the listed values"
    return f"{error['msg']}, got {_shown(error.get('input'))}", "fix the value"


def _shown(value: Any, limit: int = 200) -> str:
    """The offending value as the error line shows it: a hostile one is cut, not echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _model_at(cls: Any, loc: tuple) -> type[BaseModel]:
    """The pydantic model class that holds the field at ``loc`` (for listing allowed keys)."""
    for part in loc:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and part in cls.model_fields:
            cls = cls.model_fields[part].annotation
        cls = _unwrap(cls)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else BaseModel


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation)
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else annotation
    if origin in (list, tuple):
        return typing.get_args(annotation)[0]
    return annotation


def load_recipe(path: str | Path) -> Recipe:
    """Read, interpolate and validate the recipe's own keys (stages are validated by the runner)."""
    return parse_model(Recipe, read_recipe_yaml(path), file=str(path))
