"""Run a planned recipe's stages in order (``slimkit.planning`` validates it first, cheaply),
resuming finished ones.

This is the only module of ``slimkit`` that imports stage code; it does so inside functions.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from slimkit import artifacts, atomic
from slimkit.errors import RecipeError, SlimkitError
from slimkit.launch import is_main_launch_process, launch_state, set_threads
from slimkit.manifest import DataRecord, Manifest, RecipeRecord
from slimkit.planning import BASE, Plan, base_fingerprint
from slimkit.recipe import Recipe
from slimkit.run_lock import run_lock
from slimkit.signal_stack import drop_freed_signal_stack
from slimkit.stage import Registry, RunContext, StageConfig, Variant

log = logging.getLogger(__name__)


def build_registry() -> Registry:
    """Every stage slimkit ships, listed here and nowhere else."""
    from compress.distill import Distill, DistillConfig
    from compress.finetune import Finetune, FinetuneConfig
    from compress.import_model import Import, ImportConfig
    from compress.peers import Peer, PeerConfig
    from compress.prune_ffn import PruneFfn, PruneFfnConfig
    from compress.prune_gradual import PruneGradual, PruneGradualConfig
    from compress.prune_heads import PruneHeads, PruneHeadsConfig
    from compress.prune_layers import PruneLayers, PruneLayersConfig
    from compress.quantize import Quantize, QuantizeConfig
    from export.onnx import Onnx, OnnxConfig
    from export.openvino import OpenVino, OpenVinoConfig
    from export.tensorrt import TensorRt, TensorRtConfig

    registry = Registry()
    for config_cls, stage_cls in ((FinetuneConfig, Finetune), (ImportConfig, Import),
                                  (DistillConfig, Distill), (PruneHeadsConfig, PruneHeads),
                                  (PruneLayersConfig, PruneLayers), (PruneFfnConfig, PruneFfn),
                                  (QuantizeConfig, Quantize), (OnnxConfig, Onnx),
                                  (OpenVinoConfig, OpenVino), (TensorRtConfig, TensorRt),
                                  (PeerConfig, Peer), (PruneGradualConfig, PruneGradual)):
        registry.add(config_cls, stage_cls)
    return registry


def execute(plan: Plan, registry: Registry, *, out_dir: str | None = None,
            force: bool = False) -> list[Manifest]:
    """Run every stage whose variant is missing or stale; return each variant's manifest."""
    run_dir = Path(out_dir or plan.recipe.output_dir) / plan.recipe.name
    if not is_main_launch_process():
        return _execute(plan, registry, run_dir, force)
    with run_lock(run_dir, command=f"slimkit run {plan.path}"):
        return _execute(plan, registry, run_dir, force)


def _execute(plan: Plan, registry: Registry, run_dir: Path, force: bool) -> list[Manifest]:
    recipe, main = plan.recipe, launch_state().is_main_process
    set_threads(recipe.threads)
    if main:  # the others must not touch the main process's temporary folders
        artifacts.remove_stale_temporaries(run_dir)
    memory: dict[str, Variant] = {}
    fingerprints = {BASE: base_fingerprint(plan)}
    ctx = RunContext(recipe=recipe, recipe_path=plan.path, train=plan.splits.train,
                     validation=plan.splits.validation, eval=plan.splits.eval, variants=memory,
                     seed=recipe.seed, workdir=run_dir,
                     resolve_variant=lambda name: _resolve(name, plan, run_dir, memory))
    manifests = []
    try:
        _run_all(plan, registry, ctx, run_dir, fingerprints, manifests, force)
    finally:
        if main:
            artifacts.remove_stale_temporaries(run_dir)
    if not main:
        return manifests
    atomic.write_json(run_dir / "summary.json", _summary(manifests))
    if recipe.benchmark is not None:
        _benchmark(recipe, run_dir, manifests, force, command=f"slimkit run {plan.path}")
    return manifests


def _benchmark(recipe: Recipe, run_dir: Path, manifests: list[Manifest], force: bool,
               command: str) -> None:
    """The recipe's benchmark block, redone only when a variant or the settings changed."""
    from benchmarks.harness import bench
    from benchmarks.report import REPORT

    if not launch_state().is_main_process:
        return
    settings = recipe.benchmark.model_dump(mode="json", exclude={"publish"})  # where, not what
    fingerprint = artifacts.sha256_json({"benchmark": settings,
                                         "variants": sorted(m.fingerprint for m in manifests)})
    if not force and _report_fingerprint(run_dir / REPORT) == fingerprint:
        log.info("benchmark: report.json is up to date with these variants, skipped")
    else:
        log.info("benchmark: measuring every variant x backend x device")
        bench(run_dir, recipe.benchmark,
              extra={"fingerprint": fingerprint, "recipe": recipe.name, "command": command})
    if recipe.search is not None:
        from benchmarks.best import apply_search

        apply_search(run_dir, recipe.search)
    if recipe.benchmark.publish:
        from benchmarks.report import publish

        publish(run_dir, Path(recipe.benchmark.publish), recipe.name)


def _report_fingerprint(path: Path) -> str | None:
    """What the existing report was measured from; None when there is none to trust."""
    from benchmarks.report import load_report

    try:
        return load_report(path).get("fingerprint") if path.is_file() else None
    except RecipeError:  # unreadable or from an older slimkit: measured again
        return None


def _run_all(plan: Plan, registry: Registry, ctx: RunContext, run_dir: Path,
             fingerprints: dict[str, str], manifests: list[Manifest], force: bool) -> None:
    for index, config in enumerate(plan.stages):
        name, parent = config.variant_name, plan.parent_of(index)
        fingerprints[name] = stage_fingerprint(config, fingerprints[parent])
        folder = run_dir / name
        if not force and artifacts.is_finished(folder, fingerprints[name]):
            log.info("%s: finished earlier with the same inputs, skipped", name)
            manifests.append(artifacts.read_manifest(folder))
            continue
        log.info("%s: running %s on %s", name, config.kind, parent)
        manifests.append(_run_stage(plan, registry, config, ctx, parent, folder, fingerprints))
        drop_freed_signal_stack()  # OpenVINO can leave one behind: the next Ctrl-C would crash


def stage_fingerprint(config: StageConfig, parent_fingerprint: str) -> str:
    """What a stage's variant depends on. Fields at their defaults are left out, so a field that a
    newer slimkit adds does not redo a finished run (the cost: a changed default does not either;
    the manifest keeps the whole config). The kind is kept: it is a default of its own class."""
    stage = {"kind": config.kind, **config.model_dump(mode="json", exclude_defaults=True)}
    return artifacts.sha256_json({"stage": stage, "parent": parent_fingerprint})


def _run_stage(plan: Plan, registry: Registry, config: StageConfig, ctx: RunContext,
               parent: str, folder: Path, fingerprints: dict[str, str]) -> Manifest:
    """Run, evaluate and write one stage. Under a multi-process launch only the main process
    evaluates and writes; a stage that is not distributed runs there alone, the others wait."""
    state, stage = launch_state(), registry.build(config)
    if state.is_main_process or stage.distributed:
        variant = _run_and_write(plan, stage, config, ctx, parent, folder, fingerprints,
                                 main=state.is_main_process)
    state.wait_for_everyone()
    manifest = artifacts.read_manifest(folder)
    if state.is_main_process or stage.distributed:
        variant.manifest, variant.path = manifest, folder
        ctx.variants[variant.name] = variant
    return manifest


def _run_and_write(plan: Plan, stage: Any, config: StageConfig, ctx: RunContext, parent: str,
                   folder: Path, fingerprints: dict[str, str], *, main: bool) -> Variant:
    from backends.registry import runtime_for
    from slimkit.evaluation import evaluate_runtime

    started = time.perf_counter()
    try:
        variant = stage.run(ctx.variant(parent), ctx)
    except RecipeError:
        raise
    except SlimkitError as exc:  # name the failing stage; keep the error's type
        exc.args = (f"{plan.path}: stage {config.variant_name}: {exc}",)
        raise
    seconds = time.perf_counter() - started
    if not main:
        return variant
    metrics = None
    if config.evaluate:  # a training stage may already have scored its kept checkpoint on them
        metrics = variant.metrics or evaluate_runtime(runtime_for(variant), variant.tokenizer,
                                                      plan.splits.eval, plan.recipe.data.max_length)
    if metrics:
        log.info("%s: eval accuracy %.4f, F1 %.4f", variant.name, metrics["accuracy"],
                 metrics["f1"])

    def fill(tmp: Path) -> Manifest:
        variant.save(tmp)
        for name, data in variant.extra_files.items():
            (tmp / name).write_bytes(data)
        return _manifest(plan, config, variant, parent, fingerprints, metrics, seconds, tmp)

    artifacts.write_variant(folder, fill)
    return variant


def _manifest(plan: Plan, config: StageConfig, variant: Variant, parent: str,
              fingerprints: dict[str, str], metrics: dict[str, Any] | None, seconds: float,
              folder: Path) -> Manifest:
    """The typed record of one variant; a stage's own records (``variant.extras``) must be
    fields of ``Manifest`` (an unknown one fails here, before the folder is swapped in)."""
    model, splits = variant.model, plan.splits
    return Manifest(
        variant=variant.name, stage=config.kind, stage_config=config.model_dump(mode="json"),
        parent=parent, lineage=plan.lineage(parent), fingerprint=fingerprints[variant.name],
        parent_fingerprint=fingerprints[parent],
        recipe=RecipeRecord(path=plan.path, sha256=artifacts.sha256_json(plan.text), text=plan.text,
                            resolved=plan.recipe.model_dump(mode="json")),
        backend=variant.backend, precision=variant.precision,
        label_names=splits.train.label_names, max_length=plan.recipe.data.max_length,
        data=DataRecord(eval_source=splits.eval.source, train=splits.train.checksum(),
                        validation=splits.validation.checksum(), eval=splits.eval.checksum(),
                        pairs=splits.eval.text_pairs is not None),
        metrics=metrics, stage_seconds=round(seconds, 2), **variant.extras,
        parameters=sum(p.numel() for p in model.parameters()) if model is not None else None,
        size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        versions=artifacts.library_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _resolve(name: str, plan: Plan, run_dir: Path, memory: dict[str, Variant]) -> Variant:
    if name not in memory:
        if name == BASE:
            from slimkit.models import load_base

            model, tokenizer = load_base(plan.recipe.model, plan.splits.train.label_names,
                                         plan.recipe.seed)
            memory[name] = Variant(name=BASE, model=model, tokenizer=tokenizer)
        else:
            memory[name] = artifacts.load_variant(run_dir / name)
    return memory[name]


def _summary(manifests: list[Manifest]) -> dict[str, Any]:
    rows = []
    for m in manifests:
        metrics = m.metrics or {}
        rows.append({"variant": m.variant, "stage": m.stage, "parent": m.parent,
                     "accuracy": metrics.get("accuracy"), "f1": metrics.get("f1"),
                     "parameters": m.parameters, "size_bytes": m.size_bytes,
                     "stage_seconds": m.stage_seconds})
    return {"variants": rows}
