"""The benchmark report: ``report.json`` (schema in ``benchmarks/REPORT.md``), ``report.md`` (one
row per variant x backend x device, the best pick within the accuracy budget in bold) and
``pareto.png`` (accuracy against latency ratio, the frontier drawn)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.latency import REAL
from benchmarks.rows import latency_at
from benchmarks.search import pick
from benchmarks.variant_details import (
    TRAINING_PLOT,
    per_class_lines,
    plot_training,
    training_lines,
    variant_details,
)
from slimkit import atomic
from slimkit.errors import RecipeError
from slimkit.settings import BenchmarkConfig, SearchConfig
from slimkit.tables import markdown_table

SCHEMA = "slimkit.bench-report/1"
REPORT, MARKDOWN, PLOT = "report.json", "report.md", "pareto.png"


def build_report(run_dir: Path, cfg: BenchmarkConfig, threads: int, rows: list[dict[str, Any]],
                 skipped: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    from benchmarks.machine import machine_info

    _add_agreement(rows, cfg.reference)
    report = {"schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "run_dir": str(run_dir), "machine": machine_info(), "threads": threads,
              "settings": cfg.model_dump(mode="json"), "reference": cfg.reference, "rows": rows,
              "skipped": skipped, "wall_seconds": round(seconds, 1),
              "variants": variant_details(run_dir, sorted({r["variant"] for r in rows}))}
    report["best"] = best_in_budget(report)
    return report


def _add_agreement(rows: list[dict[str, Any]], reference: str) -> None:
    """Share of eval rows where a row predicts what the reference predicts (same device). The
    predictions stay in the row, compactly, for compare's paired significance test."""
    from benchmarks.paired import encode

    ref = {r["device"]: r["predictions"] for r in rows
           if r["variant"] == reference and r["backend"] == "pytorch" and r.get("predictions")}
    for row in rows:
        predictions, theirs = row.get("predictions"), ref.get(row["device"])
        if predictions and theirs:
            same = sum(a == b for a, b in zip(predictions, theirs, strict=True))
            row["quality"]["agreement"] = same / len(theirs)
    for row in rows:
        if row.get("predictions"):
            row["predictions"] = encode(row["predictions"])


def best_in_budget(report: dict[str, Any]) -> dict[str, Any]:
    """Per device: the search's pick (``benchmarks.search.pick``, the one selector) under the
    benchmark block's budget, metric and pick shape; ``best`` publishes the same function's
    answer, so the bold row and ``runs/<recipe>/best`` agree."""
    cfg = BenchmarkConfig.model_validate(report["settings"])
    batch_size, seq_len = cfg.pick_shape
    best: dict[str, Any] = {}
    for device in sorted({r["device"] for r in report["rows"]}):
        result = pick(report, SearchConfig(budget=cfg.budget, metric=cfg.metric, device=device,
                                           batch_size=batch_size, seq_len=seq_len))
        if result["pick"] is not None:
            best[device] = best_entry(result)
    return best


def best_entry(result: dict[str, Any]) -> dict[str, Any]:
    """The report's ``best`` entry for one device, from a search result."""
    search, chosen = result["search"], result["pick"]
    return {"id": chosen["id"], "metric": search["metric"], "value": chosen[search["metric"]],
            "floor": result["floor"], "batch_size": search["batch_size"],
            "seq_len": search["seq_len"], "p50_ratio": chosen["p50_ratio"]}


def write_report(report: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / REPORT, report)
    render(report, folder)


class ReportFiles(NamedTuple):
    """The names one report's files go by in a folder."""
    json: str
    markdown: str
    plot: str
    training: str


def report_files(name: str | None = None) -> ReportFiles:
    """A run's own names, or a published copy's ``<name>.json|.md|.png|-training.png`` (so that
    copies of several reports share one folder without writing over each other)."""
    if name is None:
        return ReportFiles(REPORT, MARKDOWN, PLOT, TRAINING_PLOT)
    return ReportFiles(f"{name}.json", f"{name}.md", f"{name}.png", f"{name}-training.png")


def render(report: dict[str, Any], folder: Path, name: str | None = None) -> Path:
    """The markdown and both plots from the JSON alone (``slimkit report``), under the names
    ``report_files(name)`` gives. The markdown's path."""
    from benchmarks.plot import pareto

    files = report_files(name)
    atomic.write_text(folder / files.markdown, markdown(report, files.training))
    pareto(report, folder / files.plot)
    plot_training(report.get("variants") or {}, folder / files.training)
    return folder / files.markdown


def _repeats_note(cfg: BenchmarkConfig) -> str:
    if cfg.repeats == 1:
        return ""
    return (f" Each row was measured in {cfg.repeats} processes, one pass over the rows each; "
            "its latencies are the medians over them (`p50_ratio_repeats` in report.json).")


def publish(run_dir: Path, folder: Path, name: str) -> None:
    """Copy the run's report files to ``folder`` under ``report_files(name)`` (committed
    results), the markdown rendered again so that it names the plot copied beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    own, published = report_files(), report_files(name)
    copies = ((own.json, published.json), (own.plot, published.plot),
              (own.training, published.training))
    for source, target in copies:
        if (run_dir / source).is_file():
            atomic.copy_file(run_dir / source, folder / target)
    if (run_dir / own.json).is_file():
        atomic.write_text(folder / published.markdown,
                          markdown(load_report(run_dir / own.json), published.training))


def add_serving(path: Path, name: str, result: dict[str, Any]) -> None:
    """Put a load test's ``result`` under ``serving.<name>`` of a report; re-render it."""
    folder = path if path.is_dir() else path.parent
    report = load_report(folder / REPORT)
    report.setdefault("serving", {})[name] = result
    write_report(report, folder)


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


def markdown(report: dict[str, Any], training_plot: str = TRAINING_PLOT) -> str:
    """report.md's text; ``training_plot`` names the training plot beside it (published copies
    carry the recipe's name)."""
    from benchmarks.machine import describe

    cfg = BenchmarkConfig.model_validate(report["settings"])
    shapes = [(b, s) for b in cfg.batch_sizes for s in cfg.seq_lens]
    shapes += [(1, REAL)] if cfg.real_texts else []
    best = {b["id"] for b in report.get("best", {}).values()}
    head = ["variant", "backend", "device", "precision", "accuracy", "F1", "agreement", "MB",
            "peak RSS MB"] + [f"b{b}/{'real texts' if s == REAL else f's{s}'} p50 ms (ratio)"
                              for b, s in shapes]
    lines = [f"# Benchmark of `{report['run_dir']}`", "",
             f"Machine: {describe(report['machine'])}. Threads: {report['threads']}"
             f"{'' if cfg.spin_wait else ', sleeping between calls (spin_wait: false)'}. "
             f"Reference: `{report['reference']}` on PyTorch FP32, re-measured in every measurement's "
             f"process; ratio = p50 / reference p50 (lower is faster). **Bold**: {_bold_means(report)}. "
             f"Accuracy and F1 scored in batches of {cfg.eval_batch_size}. "
             f"Harness wall time: {report['wall_seconds']:.0f} s.{_repeats_note(cfg)}",
             *([f"Reproduce: `{report['command']}`."] if report.get("command") else []), ""]
    peers = set(cfg.peers)
    lines += markdown_table(head, [_table_cells(row, shapes, row["id"] in best, row["variant"] in peers)
                                   for row in report["rows"]])
    lines += _search_lines(report.get("search"))
    details = report.get("variants") or {}
    picked = [b["id"].split("/")[0] for b in report.get("best", {}).values()]
    lines += training_lines(details, training_plot)
    lines += per_class_lines(details, [report["reference"], *picked, *cfg.peers])
    if report.get("serving"):
        from benchmarks.serving import markdown as serving_table

        lines += ["\nServing (`slimkit loadtest`, real texts over HTTP on loopback):\n",
                  serving_table(report["serving"]).rstrip("\n")]
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
    lines += _peer_in_budget_line(search)
    return lines


def _peer_in_budget_line(search: dict[str, Any]) -> list[str]:
    """The fastest peer within the budget, when it is not the fastest peer: the pick against a
    peer of the same accuracy."""
    if "best_peer_in_budget" not in search:  # a report from before the figure: nothing to say
        return []
    peer, fastest = search["best_peer_in_budget"], search.get("best_peer") or {}
    metric, budget = search["search"]["metric"], search["search"]["budget"]
    if fastest and not peer:
        return [f"No peer is within {budget:g} pt of the reference's {metric}."]
    if not peer or peer["id"] == fastest.get("id"):
        return []
    over = search["speedup_over_best_peer_in_budget"]
    relation = f"{over:.2f}x faster" if over >= 1 else f"{1 / over:.2f}x slower"
    return [f"Best peer within {budget:g} pt: {peer['id']} ({peer['speedup']:.1f}x, {metric} "
            f"{peer[metric]:.4f}); the pick is {relation} than it."]


def _considered(search: dict[str, Any]) -> str:
    """'3 deployable rows considered of 7 measured (1 failed, 2 skipped)'."""
    counts = search.get("rows")
    text = f"{len(search.get('considered') or [])} deployable rows considered"
    if counts:
        text += (f" of {counts['measured']} measured ({counts['failed']} failed, "
                 f"{counts['skipped']} skipped)")
    return text


def _bold_means(report: dict[str, Any]) -> str:
    search = report.get("search") or {}
    if search.get("pick"):
        return "the search's pick, published as `best` (below)"
    cfg = BenchmarkConfig.model_validate(report["settings"])
    return (f"the fastest deployable row (a variant on its own backend, not a peer) within "
            f"{cfg.budget:g} pt {cfg.metric} of the reference at batch {cfg.pick_shape[0]}, "
            f"seq {cfg.pick_shape[1]}")


def _table_cells(row: dict[str, Any], shapes: list[tuple[int, int | str]], bold: bool,
                 peer: bool) -> list[str]:
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
    return [f"**{c}**" if c else c for c in cells] if bold else cells
