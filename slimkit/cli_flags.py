"""Command-line flags generated from a pydantic settings model, so that a field (a benchmark
setting, a tolerance) is declared once: its name, type, repetition and help come from the model,
and the values given are validated by the model like the same block in a YAML file."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

from pydantic import BaseModel


def _scalar(annotation: Any) -> Any:
    """The argparse ``type`` of one value: int, float or str (Literal choices are checked by the
    model, in the one-line error format of the recipe)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _scalar(args[0])
    if origin in (typing.Union, types.UnionType):
        return _scalar(next(a for a in args if a is not type(None)))
    return annotation if annotation in (int, float) else str


def _is_list(annotation: Any) -> tuple[bool, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _is_list(next(a for a in args if a is not type(None)))
    if origin is typing.Annotated:
        return _is_list(args[0])
    return (True, args[0]) if origin is list else (False, annotation)


def add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel],
                    skip: tuple[str, ...] = ()) -> None:
    """``--field-name`` for each field of ``model`` (lists take several values); unset flags
    stay None so that a file's value, or the model's default, applies."""
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        many, item = _is_list(info.annotation)
        text = info.description or name.replace("_", " ")
        if "default" not in text:
            text += " (required)" if info.is_required() else \
                f" (default {info.get_default(call_default_factory=True, validated_data={})!r})"
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_scalar(item),
                            nargs="+" if many else None, default=None, help=text)


def model_flags(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The fields of ``model`` given on the command line."""
    return {name: getattr(args, name) for name in model.model_fields
            if getattr(args, name, None) is not None}
