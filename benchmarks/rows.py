"""Queries on a report's rows that the report, the search, the plot and the gate share."""

from __future__ import annotations

from typing import Any


def row_id(variant: str, backend: str, device: str) -> str:
    """A row's id in a report (``Target.key``), which the gate reads back."""
    return f"{variant}/{backend}/{device}"


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
