"""The ``serving`` section of a benchmark report: load-test results (``slimkit loadtest
--report``, added by ``report.add_serving``) under a name each, their table in report.md, and
their checks in ``slimkit compare`` (throughput may drop, p99 may rise, each by a relative limit)."""

from __future__ import annotations

from typing import Any

from slimkit.tables import markdown_table

HEAD = ["name", "variant", "backend", "batching", "load", "ok / sent", "req/s", "p50 ms", "p90 ms",
        "p99 ms"]


def markdown(section: dict[str, dict[str, Any]]) -> str:
    rows = [[name, r.get("variant"), r.get("backend"), _batching(r.get("batching")), _load(r),
             f"{r['ok']} / {r['requests']}", f"{r['throughput_rps']:.1f}", _ms(r.get("p50_ms")),
             _ms(r.get("p90_ms")), _ms(r.get("p99_ms"))] for name, r in section.items()]
    return "\n".join(markdown_table(HEAD, rows)) + "\n"


def _batching(batching: dict[str, Any] | None) -> str:
    if not batching:
        return "-"
    if batching["max_batch_size"] == 1:
        return "off"
    return f"<= {batching['max_batch_size']} texts, {batching['max_wait_ms']:g} ms"


def _load(result: dict[str, Any]) -> str:
    if result["mode"] == "open":
        return f"open loop, {result['rate']:g} req/s"
    count = result["concurrency"]
    return f"{count} client{'s' if count > 1 else ''}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def serving_checks(new: dict[str, Any], baseline: dict[str, Any], throughput: float | None,
                   p99: float | None) -> list[tuple[str, str, float | None, float | None, float]]:
    """(name, metric, baseline value, new value, limit) for compare to judge; a missing new
    entry has None values."""
    out = []
    for name, base in (baseline.get("serving") or {}).items():
        now = (new.get("serving") or {}).get(name)
        if throughput is not None:
            out.append((name, "throughput_rps", base["throughput_rps"],
                        now and now["throughput_rps"], throughput))
        if p99 is not None and base.get("p99_ms") is not None:
            out.append((name, "p99_ms", base["p99_ms"], now and now.get("p99_ms"), p99))
    return out
