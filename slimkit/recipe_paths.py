"""Where a recipe's paths point: everything written in the recipe (a ``${VAR:-default}`` default
included) is relative to the recipe's own folder, so a recipe works from any current folder; a
value that comes from an environment variable is relative to the current folder, where the user
typed it. Outputs (``output_dir``, ``--out``) stay relative to the current folder."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DATA_FILES = ("train", "eval", "validation")


def interpolate(value: Any) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def anchor_paths(raw: dict[str, Any], recipe_dir: Path) -> dict[str, Any]:
    """The raw recipe with its input paths made absolute (other keys untouched)."""
    base = Path(os.path.abspath(recipe_dir))
    raw = dict(raw)
    data = raw.get("data")
    if isinstance(data, dict) and not data.get("dataset") and data.get("format") != "hf":
        raw["data"] = {k: anchor(v, base) if k in _DATA_FILES and isinstance(v, str) else v
                       for k, v in data.items()}
    if isinstance(raw.get("model"), str):
        raw["model"] = _model_source(raw["model"], base)
    if isinstance(raw.get("stages"), list):
        raw["stages"] = [{**s, "student": _model_source(s["student"], base)}
                         if isinstance(s, dict) and isinstance(s.get("student"), str) else s
                         for s in raw["stages"]]
    bench = raw.get("benchmark")
    if isinstance(bench, dict) and isinstance(bench.get("publish"), str):
        raw["benchmark"] = {**bench, "publish": anchor(bench["publish"], base)}
    return raw


def anchor(raw: str, base: Path) -> str:
    """One path field, interpolated and made absolute."""
    match = VAR.match(raw)
    from_environment = bool(match and os.environ.get(match.group(1)))
    value = interpolate(raw)
    if not value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    return os.path.normpath((Path.cwd() if from_environment else base) / path)


def _model_source(raw: str, base: Path) -> str:
    """A model folder is anchored like any path; a packaged short name or a hub id ('org/name')
    is kept, unless a folder of that name sits beside the recipe."""
    value = interpolate(raw)
    if value.startswith((".", "/", "~")) or (base / value).is_dir():
        return anchor(raw, base)
    return value
