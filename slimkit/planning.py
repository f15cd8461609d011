"""``slimkit validate`` and the first step of ``slimkit run``: the whole recipe validated before any
heavy work (its schema, each stage against the model's config, the order of stages, the benchmark
block's names, the data files), each problem one line ``FILE: FIELD: PROBLEM (FIX)``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimkit.artifacts import sha256_file, sha256_json
from slimkit.data import Splits, load_splits, require_classes
from slimkit.errors import RecipeError
from slimkit.models import read_model_config
from slimkit.recipe import Recipe, load_recipe, parse_model
from slimkit.stage import Registry, StageConfig

BASE = "base"


@dataclass
class Plan:
    recipe: Recipe
    path: str
    text: str
    stages: list[StageConfig]
    splits: Splits
    model_config: dict[str, Any]

    def parent_of(self, index: int) -> str:
        return config_parent(self.stages, index)

    def lineage(self, name: str) -> list[str]:
        """``name`` and the variants it descends from, base first."""
        return lineage_of(self.stages, name)


def plan(path: str | Path, registry: Registry) -> Plan:
    """Validate the recipe, its stages against the model's config, and its data. No heavy work."""
    file = str(path)
    recipe = load_recipe(path)
    stages = [_stage_config(raw, i, registry, file) for i, raw in enumerate(recipe.stages)]
    _check_order(stages, file)
    _check_lineages(stages, file)
    _check_benchmark(recipe, stages, file)
    try:
        model_config = read_model_config(recipe.model)
        for i, config in enumerate(stages):
            try:
                registry.build(config).check(model_config, recipe)
            except RecipeError as exc:
                top = (exc.field or "").split(".")[0].split("[")[0]
                raise exc.at(file, None if top in Recipe.model_fields else f"stages[{i}]") from None
        splits = load_splits(recipe.data, file)
        require_classes(recipe.data, splits, file)
    except RecipeError as exc:
        raise exc.at(file) from None
    return Plan(recipe, file, Path(path).read_text(encoding="utf-8"), stages, splits, model_config)


def _stage_config(raw: Any, index: int, registry: Registry, file: str) -> StageConfig:
    where = f"stages[{index}]"
    if not isinstance(raw, dict) or "kind" not in raw:
        raise RecipeError("each stage needs a 'kind'", file=file, field=where,
                          fix=f"add 'kind: <one of {', '.join(registry.kinds())}>'")
    try:
        cls = registry.config_class(raw["kind"], field_name=f"{where}.kind")
    except RecipeError as exc:
        raise exc.at(file) from None
    return parse_model(cls, raw, file=file, prefix=where)


def _check_order(stages: list[StageConfig], file: str) -> None:
    seen = {BASE}
    for i, config in enumerate(stages):
        name = config.variant_name
        if name == "best":
            raise RecipeError("'best' is where the search publishes its pick", file=file,
                              field=f"stages[{i}].name", fix="give the stage another name")
        if name in seen:
            raise RecipeError(f"variant name '{name}' is used twice", file=file,
                              field=f"stages[{i}].name", fix="give each stage a distinct name")
        if config.parent and config.parent not in seen:
            raise RecipeError(f"parent '{config.parent}' is not an earlier stage", file=file,
                              field=f"stages[{i}].parent",
                              fix=f"use one of: {', '.join(sorted(seen))}")
        seen.add(name)


def _check_lineages(stages: list[StageConfig], file: str) -> None:
    """Each stage against the stages it descends from (QAT's scheme against the INT8 export)."""
    by_name = {c.variant_name: c for c in stages}
    for i, config in enumerate(stages):
        # nearest first, without the base model (no stage config) and the stage itself
        ancestors = [by_name[n] for n in reversed(lineage_of(stages, config.variant_name)[1:-1])]
        try:
            config.check_lineage(ancestors)
        except RecipeError as exc:
            raise exc.at(file, f"stages[{i}]") from None


def lineage_of(stages: list[StageConfig], name: str) -> list[str]:
    """``name`` and the variants it descends from, base first (the order was checked)."""
    names = [c.variant_name for c in stages]
    chain = [name]
    while chain[0] != BASE:
        chain.insert(0, config_parent(stages, names.index(chain[0])))
    return chain


def config_parent(stages: list[StageConfig], index: int) -> str:
    explicit = stages[index].parent
    return explicit or (stages[index - 1].variant_name if index else BASE)


def _check_benchmark(recipe: Recipe, stages: list[StageConfig], file: str) -> None:
    from backends.registry import backends

    if recipe.benchmark is None:
        return
    registry = backends()
    registry.check(recipe.benchmark.backends or [], "benchmark.backends", file)
    if recipe.search is not None and recipe.search.backend is not None:
        registry.check([recipe.search.backend], "search.backend", file)
    names = [c.variant_name for c in stages]
    for field, wanted in (("reference", [recipe.benchmark.reference]),
                          ("variants", recipe.benchmark.variants or []),
                          ("peers", recipe.benchmark.peers)):
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise RecipeError(f"'{unknown[0]}' is not a variant of this recipe", file=file,
                              field=f"benchmark.{field}", fix=f"use one of: {', '.join(names)}")


def base_fingerprint(plan: Plan) -> str:
    """What the base variant depends on: the model, the data settings and the data files' bytes
    (by checksum, not by path, so that a clone elsewhere resumes the same run)."""
    recipe = plan.recipe
    files = {split: getattr(recipe.data, split) for split in ("train", "validation", "eval")}
    local = {split: Path(p) for split, p in files.items() if p and Path(p).is_file()}
    model = recipe.model if isinstance(recipe.model, str) else recipe.model.model_dump()
    return sha256_json({
        "model": model, "seed": recipe.seed,
        "data": recipe.data.model_dump(exclude={*local, "max_file_mb", "max_row_chars"},
                                       exclude_defaults=True),
        "data_files": {split: sha256_file(path) for split, path in local.items()}})
