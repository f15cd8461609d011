"""Variant folders on disk: atomic writes, manifests with checksums, and resume by fingerprint."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from slimkit.errors import RecipeError
from slimkit.stage import FileVariant, Variant

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_LIBRARIES = ("slimkit", "torch", "transformers", "accelerate", "tokenizers", "scikit-learn",
              "onnx", "onnxruntime", "openvino", "nncf", "optimum", "optimum-intel")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    return read_manifest_like(folder / MANIFEST)


def read_manifest_like(path: Path) -> dict[str, Any] | None:
    """A JSON object from disk, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_finished(folder: Path, fingerprint: str) -> bool:
    """True when the folder holds a complete variant made from exactly these inputs."""
    manifest = read_manifest(folder)
    return bool(manifest) and manifest.get("fingerprint") == fingerprint


def write_variant(folder: Path, fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Build a variant in a temporary sibling folder, then swap it in with one rename.

    ``fill(tmp)`` writes the files and returns the manifest (without checksums). An interrupted
    run leaves only a temporary folder, which the next run removes; never a half-written variant.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        manifest = fill(tmp)
        manifest["files"] = checksums(tmp)
        manifest["manifest_version"] = MANIFEST_VERSION
        write_json_atomic(tmp / MANIFEST, manifest)
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporary folders left by an interrupted run of this recipe."""
    if run_dir.is_dir():
        for leftover in run_dir.glob(".*.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()


def verify_checksums(folder: Path, manifest: dict[str, Any]) -> None:
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            raise RecipeError(f"{path} is missing or changed since it was written",
                              fix="re-run the recipe to rebuild this variant")


def load_variant(path: str | Path, *, verify: bool = True) -> Variant:
    """Open a finished variant folder: model, tokenizer and manifest. Its files are checked against
    the manifest's checksums first, and nothing in the folder is executed (slimkit.safe_load)."""
    folder = Path(path)
    manifest = read_manifest(folder)
    if manifest is None:
        raise RecipeError(f"{folder} is not a slimkit variant (no readable {MANIFEST})",
                          fix="point to runs/<recipe>/<variant>")
    if verify:
        verify_checksums(folder, manifest)
    from transformers import AutoTokenizer

    from slimkit import safe_load

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    name, backend = manifest.get("variant", folder.name), manifest.get("backend", "pytorch")
    if not manifest.get("artifact"):
        model = safe_load.load_classifier(folder)
        return Variant(name=name, model=model.eval(), tokenizer=tokenizer, path=folder,
                       backend=backend, manifest=manifest)
    config = safe_load.classifier_config(folder)
    variant = FileVariant(name, tokenizer, config, {manifest["artifact"]: folder / manifest["artifact"]},
                          backend, manifest.get("backend_options"))
    variant.path, variant.manifest = folder, manifest
    if backend == "pytorch":
        if manifest["artifact"] != safe_load.INT8_FILE:
            raise RecipeError(f"{folder} holds a pickled model ({manifest['artifact']}), which slimkit "
                              "no longer loads: unpickling can run any code",
                              fix="re-run the recipe to rebuild this variant as safetensors")
        variant.model = safe_load.load_int8(folder, config)
    return variant
