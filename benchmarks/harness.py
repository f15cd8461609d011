"""``slimkit bench RUN_DIR``: every finished variant of a run, on the backend it targets, timed
against a reference variant in the same process (interleaved), with its accuracy and size."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from benchmarks.latency import Latency, fixed_batch, interleaved
from slimkit import artifacts
from slimkit.errors import RecipeError

log = logging.getLogger(__name__)


def variant_folders(run_dir: Path) -> list[Path]:
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and (p / artifacts.MANIFEST).is_file()) if run_dir.is_dir() else []
    if not folders:
        raise RecipeError(f"{run_dir} holds no finished variants", fix="run a recipe first")
    return folders


def bench(run_dir: Path, *, reference: str, batch_sizes: list[int], seq_lens: list[int],
          rounds: int = 10, per_round: int = 10, only: list[str] | None = None) -> dict[str, Any]:
    """Latency for each (batch size, sequence length), every variant interleaved with the rest."""
    import slimkit
    from slimkit.data import load_splits
    from slimkit.recipe import Recipe, interpolate
    from slimkit.runtimes import runtime_for

    folders = {p.name: p for p in variant_folders(run_dir)}
    if reference not in folders:
        raise RecipeError(f"reference variant '{reference}' is not in {run_dir}",
                          fix=f"use one of: {', '.join(folders)}")
    names = [n for n in folders if only is None or n in only or n == reference]
    loaded = {name: slimkit.load(folders[name]) for name in names}
    manifest = loaded[reference].manifest
    import yaml

    recipe = Recipe.model_validate(interpolate(yaml.safe_load(manifest["recipe"]["text"])))
    rows = load_splits(recipe.data).eval
    forwards = {name: runtime_for(v).logits for name, v in loaded.items()}
    results: dict[str, Any] = {name: {"manifest": v.manifest, "latency": []}
                               for name, v in loaded.items()}
    tokenizer = loaded[reference].tokenizer
    for batch_size in batch_sizes:
        for seq_len in seq_lens:
            batch = fixed_batch(tokenizer, rows, batch_size, seq_len)
            log.info("timing batch %d, sequence %d: %d variants", batch_size, seq_len, len(names))
            times = interleaved(forwards, batch, rounds=rounds, per_round=per_round)
            ref = Latency.from_values(times[reference], batch_size, seq_len)
            for name, seconds in times.items():
                latency = Latency.from_values(seconds, batch_size, seq_len)
                results[name]["latency"].append(
                    {**latency.to_json(), "p50_ratio_to_reference": latency.p50_ms / ref.p50_ms})
    return {"reference": reference, "variants": results}


def table(report: dict[str, Any]) -> str:
    lines = ["| variant | backend | accuracy | F1 | MB | batch | seq | p50 ms | ratio to "
             f"{report['reference']} | speed-up |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in report["variants"].items():
        manifest = entry["manifest"]
        metrics = manifest.get("metrics") or {}
        backend = manifest.get("backend", "") + (
            f" ({manifest['backend_options']['precision']})"
            if manifest.get("backend_options", {}).get("precision") else "")
        for lat in entry["latency"]:
            lines.append(
                f"| {name} | {backend} | {metrics.get('accuracy', float('nan')):.4f} | "
                f"{metrics.get('f1', float('nan')):.4f} | {manifest.get('size_bytes', 0) / 1e6:.1f} | "
                f"{lat['batch_size']} | {lat['seq_len']} | {lat['p50_ms']:.2f} | "
                f"{lat['p50_ratio_to_reference']:.2f} | {1 / lat['p50_ratio_to_reference']:.1f}x |")
    return "\n".join(lines)
