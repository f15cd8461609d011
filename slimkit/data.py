"""One loader for labelled text: GLUE-style TSV, CSV, JSONL and Hugging Face ``datasets``.

Errors name the recipe field, the data file and the row, and say what to change.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimkit.errors import RecipeError
from slimkit.recipe import DataConfig

Row = tuple[int, dict[str, Any] | list[Any]]


@dataclass(frozen=True)
class Dataset:
    texts: list[str]
    text_pairs: list[str] | None
    labels: list[int]
    label_names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def checksum(self) -> str:
        """sha256 of the rows' content (texts, pairs, labels, label names): the same rows read
        from another path or format give the same value, other rows another."""
        content = [self.texts, self.text_pairs, self.labels, self.label_names]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()

    def subset(self, indices: list[int]) -> Dataset:
        pairs = [self.text_pairs[i] for i in indices] if self.text_pairs is not None else None
        return Dataset([self.texts[i] for i in indices], pairs, [self.labels[i] for i in indices],
                       self.label_names, self.source)


@dataclass(frozen=True)
class Splits:
    train: Dataset
    validation: Dataset
    eval: Dataset


class _Bad(Exception):
    """A problem inside one data file, raised with the row it is on."""

    def __init__(self, problem: str, row: int | None = None, fix: str = "fix the data file"):
        super().__init__(problem)
        self.problem, self.row, self.fix = problem, row, fix


def load_splits(cfg: DataConfig, recipe_file: str | None = None) -> Splits:
    """Read train, validation and eval rows; the label set comes from ``labels`` or the train rows."""
    raw = {name: _read(cfg, name, recipe_file) for name in ("train", "validation", "eval")
           if getattr(cfg, name) is not None}
    label_names = list(cfg.labels) if cfg.labels else _label_set(raw["train"][2])
    built = {name: _build(cfg, name, columns, label_names, recipe_file)
             for name, columns in raw.items()}
    evaluation = built["eval"]
    if cfg.max_eval_samples:
        evaluation = evaluation.subset(list(range(min(cfg.max_eval_samples, len(evaluation)))))
    return Splits(built["train"], built.get("validation", evaluation), evaluation)


def require_classes(cfg: DataConfig, splits: Splits, recipe_file: str | None) -> None:
    """A recipe trains a classifier, which needs two classes at least. A train file that holds one
    label is usually a wrong label column or a filtered file, and would fail later inside training.
    (Loading alone allows it: ``slimkit loadtest`` reads only the texts of such a file.)"""
    names = splits.train.label_names
    if len(names) < 2:
        raise RecipeError(
            f"{cfg.train}: the label column {cfg.label!r} holds {len(names)} distinct label(s) "
            f"{names}; a classifier needs at least 2", file=recipe_file, field="data.label",
            fix="point data.label at the label column, or list every label in data.labels")


def _read(cfg: DataConfig, split: str, recipe_file: str | None) -> tuple:
    """(texts, pairs, raw labels, row numbers) of one split, with errors placed in the recipe."""
    where = getattr(cfg, split)
    try:
        if cfg.dataset or cfg.format == "hf":
            rows: Iterator[Row] = _hf_rows(cfg, where)
        else:
            rows = _file_rows(Path(where), _format_of(cfg, where), cfg)
        return _columns(cfg, rows)
    except _Bad as bad:
        row = f" row {bad.row}" if bad.row else ""
        raise RecipeError(f"{where}{row}: {bad.problem}", file=recipe_file, field=f"data.{split}",
                          fix=bad.fix) from None


def _format_of(cfg: DataConfig, path: str) -> str:
    if cfg.format != "auto":
        return cfg.format
    suffix = Path(path).suffix.lower()
    formats = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
    if suffix not in formats:
        raise _Bad(f"cannot tell the format from '{suffix}'", fix="set data.format: tsv|csv|jsonl")
    return formats[suffix]


def _file_rows(path: Path, fmt: str, cfg: DataConfig) -> Iterator[Row]:
    text = _read_text(path, cfg)
    if fmt == "jsonl":
        return _jsonl_rows(text)
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ",",
                        quoting=quoting)
    return _table_rows(reader, cfg.header)


def _read_text(path: Path, cfg: DataConfig) -> str:
    """The file's text, refused when it is missing, too large, not UTF-8, empty or has a line
    longer than ``max_row_chars`` (a broken or hostile file), before any row is parsed."""
    if not path.is_file():
        raise _Bad("file not found", fix="set SLIMKIT_DATA or fix the path")
    size = path.stat().st_size
    if size > cfg.max_file_mb * 1_000_000:
        raise _Bad(f"{size / 1e6:,.1f} MB is over data.max_file_mb ({cfg.max_file_mb} MB)",
                   fix="raise data.max_file_mb if the file is right, or use a Hugging Face dataset")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise _Bad(f"not UTF-8 (byte 0x{data[exc.start]:02x})", row,
                   "re-save the file as UTF-8") from None
    if not text.strip():
        raise _Bad("file is empty", fix="point to a file with rows")
    lengths = [len(line) for line in text.splitlines()]
    if max(lengths) > cfg.max_row_chars:
        line = next(i for i, n in enumerate(lengths, start=1) if n > cfg.max_row_chars)
        raise _Bad(f"line of {lengths[line - 1]:,} characters, over data.max_row_chars "
                   f"({cfg.max_row_chars:,})", line, "check the file's format and quoting, or "
                   "raise data.max_row_chars")
    return text


def _table_rows(reader: Iterator[list[str]], header: bool) -> Iterator[Row]:
    names: list[str] | None = None
    number = 0
    try:
        for number, fields in enumerate(reader, start=1):
            if not fields:
                continue
            if header and names is None:
                names = fields
                continue
            if names is None:
                yield number, fields
            elif len(fields) != len(names):
                raise _Bad(f"{len(fields)} fields where the header has {len(names)}", number)
            else:
                yield number, dict(zip(names, fields, strict=True))
    except csv.Error as exc:  # e.g. an unclosed quote that swallows the rest of the file
        raise _Bad(f"cannot parse: {exc}", number + 1, "check the quoting") from None


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Bad(f"not valid JSON: {exc.msg}", number) from None
        except RecursionError:
            raise _Bad("JSON nested too deep", number) from None
        if not isinstance(record, dict):
            raise _Bad("each JSONL line must be an object", number)
        yield number, record


def _hf_rows(cfg: DataConfig, split: str) -> Iterator[Row]:
    try:
        import datasets
    except ImportError:
        raise _Bad("the 'datasets' package is not installed", fix="pip install datasets") from None
    try:
        table = datasets.load_dataset(cfg.dataset, cfg.dataset_config, split=split)
    except Exception as exc:  # offline, unknown name or split: datasets raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Bad(f"cannot load Hugging Face dataset {cfg.dataset!r}: {first}",
                   fix="check the name and split, connect to the Hub, or use a local file") from None
    yield from enumerate(table, start=1)


def _columns(cfg: DataConfig, rows: Iterator[Row]) -> tuple:
    texts, pairs, labels, numbers = [], [], [], []
    for number, record in rows:
        texts.append(_cell(record, cfg.text, "text", number))
        if cfg.text_pair is not None:
            pairs.append(_cell(record, cfg.text_pair, "text_pair", number))
        labels.append(_cell(record, cfg.label, "label", number))
        numbers.append(number)
    if not texts:
        raise _Bad("no data rows", fix="point to a file with rows")
    return texts, (pairs if cfg.text_pair is not None else None), labels, numbers


def _cell(record: dict[str, Any] | list[Any], column: str | int, role: str, row: int) -> str:
    if isinstance(record, list):
        if not isinstance(column, int):
            raise _Bad(f"data.{role} is {column!r} but the file has no header", row,
                       "name the column by its 0-based index, or set data.header: true")
        if column >= len(record):
            raise _Bad(f"no column {column} (the row has {len(record)})", row)
        value = record[column]
    else:
        if column not in record:
            raise _Bad(f"missing column {column!r} for data.{role}", row,
                       f"columns are: {', '.join(map(str, record))}")
        value = record[column]
    if value is None:
        raise _Bad(f"empty {role}", row)
    return str(value)


def _label_set(raw_labels: list[str]) -> list[str]:
    unique = set(raw_labels)
    if all(v.lstrip("-").isdigit() for v in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def _build(cfg: DataConfig, split: str, columns: tuple, label_names: list[str],
           recipe_file: str | None) -> Dataset:
    texts, pairs, raw_labels, numbers = columns
    ids = {name: i for i, name in enumerate(label_names)}
    for value, number in zip(raw_labels, numbers, strict=True):
        if value not in ids:
            raise RecipeError(
                f"{getattr(cfg, split)} row {number}: label {value!r} is not in the label set "
                f"{label_names}", file=recipe_file, field=f"data.{split}",
                fix="fix the row or list every label in data.labels")
    return Dataset(texts, pairs, [ids[v] for v in raw_labels], label_names, getattr(cfg, split))
