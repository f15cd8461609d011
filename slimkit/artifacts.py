"""Variant folders on disk: atomic writes, manifests with checksums, and resume by fingerprint."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from slimkit import atomic
from slimkit.errors import RecipeError
from slimkit.manifest import MANIFEST, Manifest, read_manifest_file
from slimkit.stage import FileVariant, Variant

log = logging.getLogger(__name__)

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


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest; None when it has none (RecipeError when it cannot be read)."""
    return read_manifest_file(folder / MANIFEST)


def is_finished(folder: Path, fingerprint: str) -> bool:
    """True when the folder holds a complete variant made from exactly these inputs."""
    try:
        manifest = read_manifest(folder)
    except RecipeError:  # an older slimkit's folder: rebuilt
        return False
    return manifest is not None and manifest.fingerprint == fingerprint


def write_variant(folder: Path, fill: Callable[[Path], Manifest]) -> Manifest:
    """Build a variant in a temporary sibling folder, then swap it in with one rename.

    ``fill(tmp)`` writes the files and returns the manifest (without checksums). An interrupted
    run leaves only a temporary folder, which the next run removes; never a half-written variant.
    """
    def filled(tmp: Path) -> Manifest:
        manifest = fill(tmp)
        manifest.files = checksums(tmp)
        atomic.write_json(tmp / MANIFEST, manifest.to_json())
        return manifest

    return atomic.replace_folder(folder, filled)


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporary folders left by an interrupted run of this recipe."""
    if run_dir.is_dir():
        for leftover in [*run_dir.glob(".*.tmp-*"), *run_dir.glob(".*.old-*")]:
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()


def verify_checksums(folder: Path, manifest: Manifest) -> None:
    for name, expected in manifest.files.items():
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
    name, backend, artifact = manifest.variant, manifest.backend, manifest.artifact
    if not artifact:
        model = safe_load.load_classifier(folder)
        return Variant(name=name, model=model.eval(), tokenizer=tokenizer, path=folder,
                       backend=backend, precision=manifest.precision, manifest=manifest)
    config = safe_load.classifier_config(folder)
    variant = FileVariant(name, tokenizer, config, {artifact: folder / artifact}, backend,
                          manifest.backend_options, precision=manifest.precision)
    variant.path, variant.manifest = folder, manifest
    if backend == "pytorch":
        if artifact != safe_load.INT8_FILE:
            raise RecipeError(f"{folder} holds a pickled model ({artifact}), which slimkit "
                              "no longer loads: unpickling can run any code",
                              fix="re-run the recipe to rebuild this variant as safetensors")
        variant.model = safe_load.load_int8(folder, config)
    return variant
