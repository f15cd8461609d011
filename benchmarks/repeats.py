"""A row measured in several processes, merged into one row (``benchmark.repeats``).

Why: on a shared 2-core VM a row's p50 ratio to the reference moved by up to 31 % from one
measurement process to the next, both runtimes switching between speed levels, not together
(REPORT.md, "Where the latency noise comes from"). Within one bench the median of 3 processes
against the median of 3 others moved at most 9.8 %; across benches the smoke gate study saw no
narrowing (the spells outlast a bench). So the harness measures every row once per pass,
``repeats`` passes, and each shape's latencies are the median over the passes."""

from __future__ import annotations

import statistics
from typing import Any

# per-shape figures taken as the median over the repeats (each is a per-process summary already)
MEDIAN_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "stdev_ms", "throughput",
               "reference_p50_ms", "p50_ratio", "p90_ratio", "calibration_ms", "p50_calibrated",
               "round_ratio_p50")


def merge_repeats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One report row from the same target's measurements; a failed one fails the row."""
    if len(rows) == 1:
        return rows[0]
    for attempt, row in enumerate(rows, 1):
        if row.get("status") != "ok":
            return {**row, "reason": f"repeat {attempt} of {len(rows)}: {row.get('reason')}"}
    out = dict(rows[0])
    out["latency"] = [merge_shape([row["latency"][i] for row in rows])
                      for i in range(len(rows[0]["latency"]))]
    out.update(repeats=len(rows), seconds=round(sum(row["seconds"] for row in rows), 1),
               peak_rss_mb=max(row["peak_rss_mb"] for row in rows),
               calibration_ms=statistics.median(row["calibration_ms"] for row in rows))
    return out


def merge_shape(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One shape's entry over the repeats: medians, the rounds' extremes, each process's ratios."""
    out = dict(entries[0])
    for key in MEDIAN_KEYS:
        if key in out:
            out[key] = statistics.median(entry[key] for entry in entries)
    out["iterations"] = sum(entry["iterations"] for entry in entries)
    out["round_ratio_min"] = min(entry["round_ratio_min"] for entry in entries)
    out["round_ratio_max"] = max(entry["round_ratio_max"] for entry in entries)
    out["p50_ratio_repeats"] = [entry["p50_ratio"] for entry in entries]
    # each process's own spread over its rounds, to set beside the spread between processes
    out["round_ratio_repeats"] = [[entry["round_ratio_min"], entry["round_ratio_max"]]
                                  for entry in entries]
    return out
