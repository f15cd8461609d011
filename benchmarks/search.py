"""The recipe's ``search:`` block: among every measured, deployable variant (a variant on the
backend it was made for), the fastest whose metric is within the budget of the reference's,
on one device and shape. Not the first that meets the goal: all are measured, the fastest wins.
The report's bold row (``report.best_in_budget``) and ``runs/<recipe>/best`` (``benchmarks.best``)
are both this module's ``pick``."""

from __future__ import annotations

from typing import Any

from benchmarks.rows import fastest_at, latency_at, reference_row
from slimkit.settings import SearchConfig


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
    peer_rows = [r for r in report["rows"] if r["variant"] in peers and r["status"] == "ok"
                 and r["device"] == cfg.device]
    peer = fastest_at(peer_rows, cfg.batch_size, cfg.seq_len)
    # the fastest peer may buy its speed with accuracy the pick may not lose: also the fastest
    # peer at the same accuracy, the comparison a user deciding between the two would make
    peer_inside = fastest_at([r for r in peer_rows if r["quality"][cfg.metric] >= floor - 1e-12],
                             cfg.batch_size, cfg.seq_len)
    result = {"search": cfg.model_dump(mode="json"), "reference_value": ref["quality"][cfg.metric],
              "floor": floor, "considered": [r["id"] for r in pool],
              "rows": _row_counts(report, cfg.device),
              "within_budget": [r["id"] for r in inside], "pick": _summary(best, cfg),
              "best_peer": _summary(peer, cfg), "best_peer_in_budget": _summary(peer_inside, cfg)}
    if best is None:
        result["why"] = f"none of {len(pool)} deployable rows is within {cfg.budget:g} pt"
        return result
    for key, row in (("speedup_over_best_peer", peer), ("speedup_over_best_peer_in_budget",
                                                         peer_inside)):
        if row is not None:
            result[key] = latency_at(row, cfg.batch_size, cfg.seq_len)["p50_ratio"] / result[
                "pick"]["p50_ratio"]
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
