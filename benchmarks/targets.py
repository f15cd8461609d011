"""What one benchmark run measures: every finished variant on every backend that can run it, on
every device asked for, and why the rest are skipped. A plain PyTorch variant also runs on ONNX
Runtime and OpenVINO through an ONNX export made here and cached beside the run."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.registry import backends
from benchmarks.rows import row_id
from slimkit import artifacts, atomic
from slimkit.errors import RecipeError
from slimkit.manifest import Manifest
from slimkit.settings import BenchmarkConfig

log = logging.getLogger(__name__)
CACHE = ".bench-cache"


@dataclass(frozen=True)
class Target:
    variant: str
    backend: str
    device: str
    folder: str
    graph: str | None = None  # an ONNX export standing in for a PyTorch variant

    @property
    def key(self) -> str:
        return row_id(self.variant, self.backend, self.device)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Skipped:
    variant: str
    backend: str
    device: str
    reason: str


def variant_folders(run_dir: Path) -> dict[str, Path]:
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.name != "best"  # the search's copy of a variant, not another one
                     and (p / artifacts.MANIFEST).is_file()) if run_dir.is_dir() else []
    if not folders:
        raise RecipeError(f"{run_dir} holds no finished variants", fix="run a recipe first")
    return {p.name: p for p in folders}


def cuda_problem() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "torch.cuda.is_available() is False on this machine"


def plan_targets(run_dir: Path, cfg: BenchmarkConfig) -> tuple[list[Target], list[Skipped]]:
    """The reference (PyTorch, each device) first, then every variant x backend x device."""
    folders = variant_folders(run_dir)
    if cfg.reference not in folders:
        raise RecipeError(f"reference variant '{cfg.reference}' is not in {run_dir}",
                          field="benchmark.reference", fix=f"use one of: {', '.join(folders)}")
    unknown = sorted(set(cfg.variants or []) - set(folders))
    if unknown:
        raise RecipeError(f"no finished variant named {', '.join(unknown)} in {run_dir}",
                          field="benchmark.variants", fix=f"use some of: {', '.join(folders)}")
    reference = artifacts.read_manifest(folders[cfg.reference])
    if reference.backend != "pytorch" or reference.artifact:
        raise RecipeError(f"reference '{cfg.reference}' is not a plain PyTorch variant",
                          field="benchmark.reference", fix="name the FP32 PyTorch teacher")
    registry = backends()
    listed = cfg.backends or registry.names()
    registry.check(listed, "benchmark.backends")
    named = None if cfg.variants is None else set(cfg.variants) | set(cfg.peers)
    names = [cfg.reference] + [n for n in folders if n != cfg.reference
                               and (named is None or n in named)]
    targets, skipped = [], []
    no_cuda = cuda_problem() if "cuda" in cfg.devices else None
    for device in cfg.devices:
        if device == "cuda" and no_cuda:
            skipped.append(Skipped("*", "*", "cuda", no_cuda))
            continue
        for name in names:
            manifest = artifacts.read_manifest(folders[name])
            asked = name == cfg.reference or name in cfg.peers or name in (cfg.variants or [])
            must = "pytorch" if name == cfg.reference else None  # every ratio's denominator
            for backend, problem in backend_plan(manifest, listed, asked, device, must):
                if problem:
                    skipped.append(Skipped(name, backend, device, problem))
                else:
                    targets.append(Target(name, backend, device, str(folders[name])))
    return targets, skipped


def backend_plan(manifest: Manifest, listed: list[str], asked: bool, device: str,
                 must: str | None = None) -> list[tuple[str, str | None]]:
    """Each backend that could run this variant, with why it is not measured (or None).

    A variant the benchmark block names (reference, variants, peers) that no listed backend can
    run is measured on its own backend rather than dropped; the others it could run on, and every
    backend of a variant it does not name, are reported as skipped with the reason."""
    registry = backends()
    runnable = registry.runnable(manifest)
    chosen = [b for b in runnable if b in listed or b == must]
    if asked and not chosen:
        chosen = runnable[:1]
        log.info("%s: no listed backend runs it; measured on its own backend, %s",
                 manifest.variant, chosen[0])
    return [(backend, registry.get(backend).device_problem(manifest, device) if backend in chosen
             else f"{backend} is not in benchmark.backends {listed}") for backend in runnable]


def needs_graph(target: Target) -> bool:
    manifest = artifacts.read_manifest(Path(target.folder))
    return backends().get(target.backend).needs_onnx_export(manifest)


def exported_graph(run_dir: Path, target: Target) -> Path:
    """The cached ONNX export of a PyTorch variant (made once per variant fingerprint)."""
    from export.onnx import export_onnx

    folder = Path(target.folder)
    manifest = artifacts.read_manifest(folder)
    cache = run_dir / CACHE / f"{target.variant}-{manifest.fingerprint[:16]}"
    path = cache / "model.onnx"
    if path.is_file():
        return path
    log.info("%s: exporting to ONNX for the file backends", target.variant)
    variant = artifacts.load_variant(folder)
    atomic.replace_folder(cache, lambda tmp: export_onnx(variant.model, variant.tokenizer,
                                                         tmp / "model.onnx", opset=18))
    return path
