"""What a variant folder *is*: one typed, versioned record (``manifest.json``) that every reader
uses. Backend, precision, lineage, data checksums and stage config are fields, not guesses.

Version 1 folders (written before this model existed) are read once through ``_from_v1``, the
only place that still interprets their keys; anything else that does not validate fails in one
line that says to re-run the recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slimkit.errors import RecipeError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
_RERUN = "re-run the recipe with this version of slimkit to rebuild it"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipeRecord(_Record):
    path: str
    sha256: str
    text: str
    resolved: dict[str, Any] | None = Field(None, description="the recipe as run, paths absolute")


class DataRecord(_Record):
    """The rows the variant was made and scored on, by content (sha256 of texts, pairs, labels)."""

    eval_source: str
    train: str | None = None
    validation: str | None = None
    eval: str | None = Field(None, description="None only in folders written before version 2")
    pairs: bool | None = Field(None, description="rows are text pairs (None: folders written "
                               "before this was recorded)")


class ParityRecord(_Record):
    rows: int
    max_abs_diff: float
    argmax_agreement: float


class QuantizationRecord(_Record):
    mode: str
    engine: str
    backend: str
    parent: str
    # the precision the build machine really ran when it differs from the mode (OpenVINO runs a
    # BF16 hint as FP32 on CPUs without BF16 units): the parity gate and metrics are of that
    measured_as: str | None = None
    reduce_range: bool | None = None  # ONNX Runtime INT8: 7-bit weights (exact without VNNI)


class TensorRtRecord(_Record):
    precision: Literal["fp16", "int8"]
    kept_float: list[str]
    trtexec: str
    engine: dict[str, Any] | None = None


class PeerRecord(_Record):
    path: str
    library: str


class Manifest(_Record):
    """One variant folder: how it was made, what it runs on, and its files' checksums."""

    manifest_version: Literal[2] = MANIFEST_VERSION
    variant: str
    stage: str
    stage_config: dict[str, Any]
    parent: str
    lineage: list[str] = Field(description="the variants it descends from, base first")
    fingerprint: str
    parent_fingerprint: str
    recipe: RecipeRecord
    backend: str = Field(description="the backend its files are made for (backends/)")
    precision: str = Field("fp32", description="what it computes in: fp32, fp16, bf16, int8 ...")
    artifact: str | None = Field(None, description="its main file; None: a Hugging Face folder")
    backend_options: dict[str, Any] = {}
    label_names: list[str]
    max_length: int
    data: DataRecord
    metrics: dict[str, Any] | None = None
    stage_seconds: float
    parameters: int | None = None
    size_bytes: int
    versions: dict[str, str]
    created: str
    files: dict[str, str] = {}
    parity: ParityRecord | None = None
    opset: int | None = Field(None, description="ONNX opset of an export")
    optimized: bool | None = Field(None, description="ONNX Runtime fusions applied")
    weights: str | None = Field(None, description="stored weight precision of an OpenVINO IR")
    quantization: QuantizationRecord | None = None
    tensorrt: TensorRtRecord | None = None
    peer: PeerRecord | None = None
    pruning: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    distillation: dict[str, Any] | None = None
    int8_format: dict[str, Any] | None = None
    calibration_file: str | None = None
    custom_code: bool = False

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_manifest(raw: Any, where: Path) -> Manifest:
    """A manifest from its JSON value; version 1 is converted, anything else fails in one line."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: not a slimkit manifest ({type(raw).__name__})", fix=_RERUN)
    version = raw.get("manifest_version")
    if version == 1:
        raw = _from_v1(raw)
    elif version != MANIFEST_VERSION:
        raise RecipeError(f"{where}: manifest version {version!r} is not readable by this slimkit "
                          f"(it reads 1 and {MANIFEST_VERSION})", fix=_RERUN)
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise RecipeError(f"{where}: {field}: {first['msg']}", fix=_RERUN) from None


def read_manifest_file(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none. A file that is there but cannot be read
    as a manifest raises RecipeError (one line)."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: unreadable manifest ({exc})", fix=_RERUN) from None
    return parse_manifest(raw, path)


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the same facts under open keys: precision was implied by 'peer',
    'tensorrt', the quantize mode or the backend options; lineage and data checksums were not
    kept (the eval rows are then not verified at bench time)."""
    out = {k: v for k, v in raw.items() if k not in ("manifest_version", "eval_data")}
    out["manifest_version"] = MANIFEST_VERSION
    out["precision"] = _v1_precision(raw)
    out["lineage"] = [raw["parent"]] if raw.get("parent") else []
    out["data"] = {"eval_source": raw.get("eval_data", "")}
    out["backend_options"] = raw.get("backend_options") or {}
    return out


def _v1_precision(raw: dict[str, Any]) -> str:
    stage = raw.get("stage_config") or {}
    if raw.get("peer"):
        return "int8 static"
    if raw.get("tensorrt"):
        return "fp16" if raw["tensorrt"].get("precision") == "fp16" else "int8 q/dq"
    if stage.get("kind") == "quantize":
        return precision_of_mode(stage["mode"])
    return (raw.get("backend_options") or {}).get("precision", "f32").replace("f32", "fp32")


def precision_of_mode(mode: str) -> str:
    """The precision label of a ``quantize`` mode."""
    return {"dynamic-int8": "int8 dynamic", "static-int8": "int8 static"}.get(mode, mode)
