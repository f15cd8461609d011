"""The benchmark report: ``report.json`` (schema in ``benchmarks/REPORT.md``), ``report.md`` (one
row per variant x backend x device, the best pick within the accuracy budget in bold) and
``pareto.png`` (accuracy against latency ratio, the frontier drawn)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.settings import BenchmarkConfig
from slimkit.artifacts import write_json_atomic, write_text_atomic
from slimkit.errors import RecipeError

SCHEMA = "slimkit.bench-report/1"
REPORT, MARKDOWN, PLOT = "report.json", "report.md", "pareto.png"


def build_report(run_dir: Path, cfg: BenchmarkConfig, threads: int, rows: list[dict[str, Any]],
                 skipped: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    from benchmarks.machine import machine_info

    _add_agreement(rows, cfg.reference)
    report = {"schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "run_dir": str(run_dir), "machine": machine_info(), "threads": threads,
              "settings": cfg.model_dump(mode="json"), "reference": cfg.reference, "rows": rows,
              "skipped": skipped, "wall_seconds": round(seconds, 1)}
    report["best"] = best_in_budget(report)
    return report


def _add_agreement(rows: list[dict[str, Any]], reference: str) -> None:
    """Share of eval rows where a row predicts what the reference predicts (same device)."""
    ref = {r["device"]: r["predictions"] for r in rows
           if r["variant"] == reference and r["backend"] == "pytorch" and r.get("predictions")}
    for row in rows:
        predictions, theirs = row.pop("predictions", None), ref.get(row["device"])
        if predictions and theirs:
            same = sum(a == b for a, b in zip(predictions, theirs, strict=True))
            row["quality"]["agreement"] = same / len(theirs)


def latency_at(row: dict[str, Any], batch_size: int, seq_len: int) -> dict[str, Any] | None:
    return next((x for x in row.get("latency") or [] if x["batch_size"] == batch_size
                 and x["seq_len"] == seq_len), None)


def reference_row(report: dict[str, Any], device: str) -> dict[str, Any] | None:
    return next((r for r in report["rows"] if r["variant"] == report["reference"]
                 and r["backend"] == "pytorch" and r["device"] == device
                 and r["status"] == "ok"), None)


def fastest_at(rows: list[dict[str, Any]], batch_size: int, seq_len: int,
               floor: tuple[str, float] | None = None) -> dict[str, Any] | None:
    """The row with the lowest p50 ratio at one shape, among rows measured there whose metric is
    at least the floor's ``(metric, value)`` when one is given."""
    timed = [r for r in rows if latency_at(r, batch_size, seq_len)
             and (floor is None or r["quality"][floor[0]] >= floor[1] - 1e-12)]
    return min(timed, key=lambda r: latency_at(r, batch_size, seq_len)["p50_ratio"], default=None)


def best_in_budget(report: dict[str, Any], backend: str | None = None) -> dict[str, Any]:
    """Per device: the fastest ok row (p50 ratio at the pick shape) whose metric is at most
    ``budget`` points below the reference's."""
    cfg = BenchmarkConfig.model_validate(report["settings"])
    batch_size, seq_len = cfg.pick_shape
    best: dict[str, Any] = {}
    for device in sorted({r["device"] for r in report["rows"]}):
        ref = reference_row(report, device)
        if ref is None:
            continue
        floor = ref["quality"][cfg.metric] - cfg.budget / 100
        rows = [r for r in report["rows"] if r["device"] == device and r["status"] == "ok"
                and (backend is None or r["backend"] == backend)]
        pick = fastest_at(rows, batch_size, seq_len, (cfg.metric, floor))
        if pick:
            best[device] = {"id": pick["id"], "metric": cfg.metric, "value": pick["quality"][cfg.metric],
                            "floor": floor, "batch_size": batch_size, "seq_len": seq_len,
                            "p50_ratio": latency_at(pick, batch_size, seq_len)["p50_ratio"]}
    return best


def write_report(report: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / REPORT, report)
    render(report, folder)


def render(report: dict[str, Any], folder: Path) -> None:
    """report.md and pareto.png from the JSON alone (``slimkit report``)."""
    from benchmarks.plot import pareto

    write_text_atomic(folder / MARKDOWN, markdown(report))
    pareto(report, folder / PLOT)


def publish(run_dir: Path, folder: Path, name: str) -> None:
    """Copy the run's report files to ``folder/<name>.json|.md|.png`` (committed results)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for source, suffix in ((REPORT, ".json"), (MARKDOWN, ".md"), (PLOT, ".png")):
        tmp = folder / f".{name}{suffix}.tmp"
        shutil.copyfile(run_dir / source, tmp)
        tmp.replace(folder / f"{name}{suffix}")


def load_report(path: str | Path) -> dict[str, Any]:
    """A report.json (or a folder holding one), checked enough to fail in one clear line."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT
    if not path.is_file():
        raise RecipeError(f"{path}: no such report", fix="run `slimkit bench RUN_DIR` first")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid JSON ({exc})", fix="regenerate it with slimkit bench") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise RecipeError(f"{path}: schema is {found!r}, expected {SCHEMA!r}",
                          fix="regenerate it with this version of slimkit bench")
    missing = [k for k in ("rows", "reference", "settings") if k not in report]
    if missing:
        raise RecipeError(f"{path}: missing {', '.join(missing)}", fix="regenerate it with slimkit bench")
    return report


def markdown(report: dict[str, Any]) -> str:
    from benchmarks.machine import describe

    cfg = BenchmarkConfig.model_validate(report["settings"])
    shapes = [(b, s) for b in cfg.batch_sizes for s in cfg.seq_lens]
    best = {b["id"] for b in report.get("best", {}).values()}
    head = ["variant", "backend", "device", "precision", "accuracy", "F1", "agreement", "MB",
            "peak RSS MB"] + [f"b{b}/s{s} p50 ms (ratio)" for b, s in shapes]
    lines = [f"# Benchmark of `{report['run_dir']}`", "",
             f"Machine: {describe(report['machine'])}. Threads: {report['threads']}. "
             f"Reference: `{report['reference']}` on PyTorch FP32, re-measured in every measurement's "
             f"process; ratio = p50 / reference p50 (lower is faster). Best within "
             f"{cfg.budget:g} pt {cfg.metric} of the reference at batch {cfg.pick_shape[0]}, "
             f"seq {cfg.pick_shape[1]}: **bold**. Harness wall time: {report['wall_seconds']:.0f} s.",
             *([f"Reproduce: `{report['command']}`."] if report.get("command") else []),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    peers = set(cfg.peers)
    for row in report["rows"]:
        lines.append(_table_row(row, shapes, row["id"] in best, row["variant"] in peers))
    lines += _search_lines(report.get("search"))
    if report.get("skipped"):
        lines.append("\nSkipped:")
    for skip in report.get("skipped", []):
        what = (f"every {skip['device'].upper()} row" if skip["variant"] == "*" else
                f"{skip['variant']} on {skip['backend']} / {skip['device']}")
        lines.append(f"- {what}: {skip['reason']}")
    return "\n".join(lines) + "\n"


def _search_lines(search: dict[str, Any] | None) -> list[str]:
    if not search:
        return []
    cfg, chosen, peer = search["search"], search.get("pick"), search.get("best_peer")
    where = (f"{cfg['device']}, batch {cfg['batch_size']}, seq {cfg['seq_len']}"
             + (f", {cfg['backend']} only" if cfg.get("backend") else ""))
    if chosen is None:
        return ["", f"Search ({where}; {_considered(search)}): no pick: {search.get('why')}."]
    lines = ["", f"Search ({where}; {cfg['metric']} within {cfg['budget']:g} pt of the reference's "
             f"{search['reference_value']:.4f}; {_considered(search)}): **{chosen['id']}**, "
             f"{cfg['metric']} {chosen[cfg['metric']]:.4f}, {chosen['speedup']:.1f}x faster than "
             f"the reference; published as `best`."]
    if peer:
        over = search["speedup_over_best_peer"]
        relation = f"{over:.2f}x faster than it" if over >= 1 else \
            f"{1 / over:.2f}x slower than it (the peer is outside the search: include_peers)"
        lines.append(f"Best peer: {peer['id']} ({peer['speedup']:.1f}x, {cfg['metric']} "
                     f"{peer[cfg['metric']]:.4f}); the pick is {relation}.")
    return lines


def _considered(search: dict[str, Any]) -> str:
    """'3 deployable rows considered of 7 measured (1 failed, 2 skipped)'."""
    counts = search.get("rows")
    text = f"{len(search.get('considered') or [])} deployable rows considered"
    if counts:
        text += (f" of {counts['measured']} measured ({counts['failed']} failed, "
                 f"{counts['skipped']} skipped)")
    return text


def _table_row(row: dict[str, Any], shapes: list[tuple[int, int]], bold: bool, peer: bool) -> str:
    name = f"{row['variant']} (peer)" if peer else row["variant"]
    cells = [name, row["backend"], row["device"], row.get("precision") or ""]
    if row["status"] != "ok":
        cells += [f"{row['status']}: {row.get('reason', '')}"] + [""] * (4 + len(shapes))
    else:
        quality = row["quality"]
        cells += [f"{quality['accuracy']:.4f}", f"{quality['f1']:.4f}",
                  f"{quality.get('agreement', float('nan')):.3f}",
                  f"{(row.get('size_bytes') or 0) / 1e6:.1f}", f"{row['peak_rss_mb']:.0f}"]
        for shape in shapes:
            x = latency_at(row, *shape)
            cells.append(f"{x['p50_ms']:.2f} ({x['p50_ratio']:.2f})" if x else "")
    if bold:
        cells = [f"**{c}**" if c else c for c in cells]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"
