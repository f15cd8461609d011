"""``slimkit bench RUN_DIR``: every finished variant x backend x device, each measured in its own
fresh process (quality, memory, latency against the reference in that process), then one report.
The harness does not care which stage made a variant: it reads the manifests."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backends.registry import backends
from benchmarks.paired import encode
from benchmarks.repeats import merge_repeats
from benchmarks.targets import Target, exported_graph, needs_graph, plan_targets
from slimkit import artifacts
from slimkit.errors import RecipeError, SlimkitError
from slimkit.launch import physical_cores
from slimkit.progress import progress as progress_bar
from slimkit.settings import BenchmarkConfig

log = logging.getLogger(__name__)


def bench(run_dir: Path, cfg: BenchmarkConfig, *, out_dir: Path | None = None,
          progress: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure, then write report.json, report.md and pareto.png into ``out_dir`` (the run)."""
    from benchmarks.report import build_report, write_report

    started = time.perf_counter()
    targets, skipped = plan_targets(run_dir, cfg)
    for skip in skipped:
        log.info("skipped %s/%s/%s: %s", skip.variant, skip.backend, skip.device, skip.reason)
    threads = cfg.threads or physical_cores()
    scratch = Path(tempfile.mkdtemp(prefix="slimkit-bench-"))
    try:
        rows_file, max_length, identity = _write_eval_rows(run_dir / cfg.reference, targets,
                                                           scratch)
        measured: dict[str, list[dict[str, Any]]] = {target.key: [] for target in targets}
        # one pass over every row per repeat: a row's repeats fall minutes apart (repeats.py)
        passes = [target for _ in range(cfg.repeats) for target in targets]
        for target in progress_bar(passes, desc="bench", unit="measurement", enabled=progress):
            measured[target.key].append(_measure(run_dir, target, cfg, threads, rows_file,
                                                 max_length, scratch))
            log.info("%s: %s", target.key, _brief(measured[target.key][-1]))
        rows = [merge_repeats(measured[target.key]) for target in targets]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = build_report(run_dir, cfg, threads, rows, [vars(s) for s in skipped],
                          time.perf_counter() - started)
    report.update({**identity, **(extra or {})})
    write_report(report, out_dir or run_dir)
    return report


def _write_eval_rows(reference: Path, targets: list[Target],
                     scratch: Path) -> tuple[Path, int, dict[str, Any]]:
    """The eval rows of the recipe that made the reference, for the workers to read quickly:
    the rows every variant was scored on, or a one-line refusal when the files changed since.
    Also what makes the report comparable with another: the recipe's name, the rows' checksum."""
    from slimkit.data import load_splits
    from slimkit.recipe import recipe_of

    manifest = artifacts.read_manifest(reference)
    recipe = recipe_of(manifest)
    rows = load_splits(recipe.data).eval
    check_eval_rows(rows.checksum(), rows.source, targets)
    path = scratch / "eval_rows.json"
    path.write_text(json.dumps({"texts": rows.texts, "text_pairs": rows.text_pairs,
                                "labels": rows.labels, "label_names": rows.label_names,
                                "source": rows.source}), encoding="utf-8")
    identity = {"recipe": recipe.name, "eval_rows": {
        "sha256": rows.checksum(), "rows": len(rows), "source": rows.source,
        "classes": len(rows.label_names), "labels": encode(rows.labels)}}
    return path, recipe.data.max_length, identity


def check_eval_rows(found: str, source: str, targets: list[Target]) -> None:
    """Refuse to benchmark when the eval rows read now are not the ones a variant recorded."""
    for variant, folder in {t.variant: t.folder for t in targets}.items():
        recorded = artifacts.read_manifest(Path(folder)).data.eval
        if recorded is None:  # a folder from before version 2 kept no checksum
            log.warning("%s: its manifest records no eval-data checksum; the rows are not verified",
                        variant)
        elif recorded != found:
            raise RecipeError(f"{source}: the eval rows differ from those '{variant}' was "
                              f"evaluated on (sha256 {found[:12]}, recorded {recorded[:12]})",
                              fix="point the data paths (e.g. SLIMKIT_DATA) back to the recipe's "
                                  "files, or re-run the recipe on the new rows")


def _measure(run_dir: Path, target: Target, cfg: BenchmarkConfig, threads: int, rows_file: Path,
             max_length: int, scratch: Path) -> dict[str, Any]:
    row = _describe(target)
    is_reference = target.variant == cfg.reference and target.backend == "pytorch"
    reference = None if is_reference else Target(cfg.reference, "pytorch", target.device,
                                                 str(run_dir / cfg.reference))
    try:
        if needs_graph(target):
            target = Target(**{**target.to_json(), "graph": str(exported_graph(run_dir, target))})
            row["size_bytes"] = _file_bytes(Path(target.graph))
        spec = {"target": target.to_json(), "reference": reference and reference.to_json(),
                "settings": cfg.model_dump(mode="json"), "threads": threads,
                "eval_rows": str(rows_file), "max_length": max_length}
        result = _run_worker(spec, scratch / target.key.replace("/", "__"), threads, cfg.timeout)
    except SlimkitError as exc:
        return {**row, "status": "failed", "reason": str(exc)}
    row.update(result)
    return row


# `python -m benchmarks.worker` would put the current folder first on sys.path, so a user's own
# `benchmarks/` package there would run instead of ours: drop that entry before importing.
_START_WORKER = ("import runpy, sys; del sys.path[0]; "
                 "runpy.run_module('benchmarks.worker', run_name='__main__', alter_sys=True)")


def worker_command(spec_path: Path, out_path: Path) -> list[str]:
    """How one measurement process starts: slimkit's installed worker, never a same-named module."""
    return [sys.executable, "-c", _START_WORKER, str(spec_path), str(out_path)]


def _run_worker(spec: dict[str, Any], stem: Path, threads: int, timeout: int) -> dict[str, Any]:
    spec_path, out_path = stem.with_suffix(".spec.json"), stem.with_suffix(".out.json")
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    if not spec["settings"].get("spin_wait", True):
        # the target and the reference alternate in one process: each runtime's spinning pool
        # would otherwise steal the cores from the other's calls (REPORT.md, spin-waiting)
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    started = time.perf_counter()
    try:
        proc = subprocess.run(worker_command(spec_path, out_path), capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SlimkitError(f"measurement took longer than {timeout} s (benchmark.timeout)") from None
    if proc.returncode != 0 or not out_path.is_file():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise SlimkitError(lines[-1][:300] if lines else f"worker exited with {proc.returncode}")
    result = json.loads(out_path.read_text(encoding="utf-8"))
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _describe(target: Target) -> dict[str, Any]:
    manifest = artifacts.read_manifest(Path(target.folder))
    return {"id": target.key, "variant": target.variant, "backend": target.backend,
            "device": target.device, "stage": manifest.stage, "parent": manifest.parent,
            "precision": backends().get(target.backend).precision(manifest),
            "native": target.backend == manifest.backend, "parameters": manifest.parameters,
            "size_bytes": manifest.size_bytes}


def _file_bytes(graph: Path) -> int:
    from slimkit.stage import with_sidecar

    return sum(path.stat().st_size for path in with_sidecar(graph))


def _brief(row: dict[str, Any]) -> str:
    if row.get("status") != "ok":
        return f"{row.get('status')}: {row.get('reason')}"
    first = row["latency"][0]
    return (f"accuracy {row['quality']['accuracy']:.4f}, batch {first['batch_size']} seq "
            f"{first['seq_len']} p50 {first['p50_ms']:.2f} ms (x{first['p50_ratio']:.2f} of the "
            f"reference), peak RSS {row['peak_rss_mb']:.0f} MB, {row['seconds']:.0f} s")

