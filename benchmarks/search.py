"""The recipe's ``search:`` block: among every measured, deployable variant (a variant on the
backend it was made for), the fastest whose metric is within the budget of the reference's,
on one device and shape. Not the first that meets the goal: all are measured, the fastest wins.
The pick is written into the report and copied, with its manifest, to ``runs/<recipe>/best``."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.report import REPORT, fastest_at, latency_at, load_report, reference_row, render
from benchmarks.settings import SearchConfig
from slimkit.artifacts import write_json_atomic

log = logging.getLogger(__name__)
BEST = "best"


def candidates(report: dict[str, Any], cfg: SearchConfig) -> list[dict[str, Any]]:
    peers = set(report["settings"].get("peers") or [])
    return [r for r in report["rows"] if r["status"] == "ok" and r["device"] == cfg.device
            and r.get("native") and (cfg.backend is None or r["backend"] == cfg.backend)
            and (cfg.include_peers or r["variant"] not in peers)
            and latency_at(r, cfg.batch_size, cfg.seq_len)]


def pick(report: dict[str, Any], cfg: SearchConfig) -> dict[str, Any]:
    """The search result: the pick (or None, and why), the budget, and the best peer."""
    ref = reference_row(report, cfg.device)
    if ref is None:
        return {"pick": None, "why": f"the reference was not measured on {cfg.device}"}
    floor = ref["quality"][cfg.metric] - cfg.budget / 100
    pool = candidates(report, cfg)
    inside = [r for r in pool if r["quality"][cfg.metric] >= floor - 1e-12]
    best = fastest_at(inside, cfg.batch_size, cfg.seq_len)
    peers = set(report["settings"].get("peers") or [])
    peer = fastest_at([r for r in report["rows"] if r["variant"] in peers and r["status"] == "ok"
                       and r["device"] == cfg.device], cfg.batch_size, cfg.seq_len)
    result = {"search": cfg.model_dump(mode="json"), "reference_value": ref["quality"][cfg.metric],
              "floor": floor, "considered": [r["id"] for r in pool],
              "rows": _row_counts(report, cfg.device),
              "within_budget": [r["id"] for r in inside], "pick": _summary(best, cfg),
              "best_peer": _summary(peer, cfg)}
    if best is None:
        result["why"] = f"none of {len(pool)} deployable rows is within {cfg.budget:g} pt"
    elif peer is not None:
        result["speedup_over_best_peer"] = (latency_at(peer, cfg.batch_size, cfg.seq_len)["p50_ratio"]
                                            / result["pick"]["p50_ratio"])
    return result


def _row_counts(report: dict[str, Any], device: str) -> dict[str, int]:
    """How many rows the benchmark asked for on this device, and what became of them, so that
    the search line says what it chose among."""
    rows = [r for r in report["rows"] if r["device"] == device]
    skipped = [s for s in report.get("skipped") or [] if s["device"] == device]
    return {"measured": sum(r["status"] == "ok" for r in rows),
            "failed": sum(r["status"] != "ok" for r in rows), "skipped": len(skipped)}


def _summary(row: dict[str, Any] | None, cfg: SearchConfig) -> dict[str, Any] | None:
    if row is None:
        return None
    ratio = latency_at(row, cfg.batch_size, cfg.seq_len)["p50_ratio"]
    return {"id": row["id"], "variant": row["variant"], "backend": row["backend"],
            "accuracy": row["quality"]["accuracy"], "f1": row["quality"]["f1"],
            "p50_ratio": ratio, "speedup": 1 / ratio}


def apply_search(run_dir: Path, cfg: SearchConfig) -> dict[str, Any]:
    """Pick from the run's report, record it there, and publish ``best``."""
    report = load_report(run_dir / REPORT)
    result = pick(report, cfg)
    if report.get("search") == result and (result["pick"] is None or (run_dir / BEST).is_dir()):
        return result  # already applied to this report
    report["search"] = result
    write_json_atomic(run_dir / REPORT, report)
    render(report, run_dir)
    if result["pick"] is None:
        log.warning("search: %s", result["why"])
        return result
    publish(run_dir, result)
    chosen = result["pick"]
    log.info("search: best is %s, %.1fx faster than the reference at %s %.4f",
             chosen["id"], chosen["speedup"], cfg.metric, chosen[cfg.metric])
    return result


def publish(run_dir: Path, result: dict[str, Any]) -> Path:
    """Copy the picked variant's folder (manifest included) to ``best``, atomically."""
    source = run_dir / result["pick"]["variant"]
    target = run_dir / BEST
    tmp = run_dir / f".{BEST}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    write_json_atomic(tmp / "best.json", {**result, "created": datetime.now(timezone.utc)
                                          .isoformat(timespec="seconds")})
    old = run_dir / f".{BEST}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
