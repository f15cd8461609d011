"""``slimkit compare NEW BASELINE``: the CI regression gate. Quality is compared in points,
latency as the p50 ratio to the same run's reference (so a slower machine alone does not fail it),
memory and size as relative rises. Exit 1 when anything moved past its tolerance."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.rows import latency_at, row_id
from slimkit.errors import RecipeError
from slimkit.settings import Tolerances
from slimkit.tables import markdown_table


@dataclass(frozen=True)
class Check:
    row: str
    metric: str
    baseline: float | None
    new: float | None
    change: str
    limit: str
    failed: bool
    moved: bool  # worth showing even when within tolerance


def load_tolerances(path: str | Path | None, **flags: float | None) -> Tolerances:
    """A small YAML of per-metric limits, then flags on top of it."""
    from slimkit.recipe import parse_model, read_yaml_mapping

    raw: dict[str, Any] = {}
    if path:
        raw = read_yaml_mapping(path, "tolerances", "e.g. 'accuracy: 0.5' and 'latency: 0.15'")
    raw.update({k: v for k, v in flags.items() if v is not None})
    return parse_model(Tolerances, raw, file=str(path or "--flags"))


def compare(new: dict[str, Any], baseline: dict[str, Any], tol: Tolerances) -> list[Check]:
    if new["reference"] != baseline["reference"]:
        raise RecipeError(f"the reports time against different references ({new['reference']!r} "
                          f"vs {baseline['reference']!r})", fix="bench both with the same --reference")
    rows = {r["id"]: r for r in new["rows"]}
    checks: list[Check] = []
    for base in baseline["rows"]:
        if base.get("status") != "ok":
            continue
        row = rows.get(base["id"])
        if row is None or row.get("status") != "ok":
            why = "absent" if row is None else f"{row.get('status')}: {row.get('reason')}"
            checks.append(Check(base["id"], "row", None, None, why, "must be measured", True, True))
            continue
        checks += (_quality(base, row, tol, _eval_labels(new, baseline)) + _speed(base, row, tol)
                   + _resources(base, row, tol))
    for row in new["rows"]:
        if row["id"] not in {b["id"] for b in baseline["rows"]}:
            checks.append(Check(row["id"], "row", None, None, "new, no baseline", "-", False, True))
    return (checks + _reference_shift(new, baseline, tol) + _reference_path(new, baseline, tol)
            + _serving(new, baseline, tol))


def _reference_shift(new: dict[str, Any], baseline: dict[str, Any],
                     tol: Tolerances) -> list[Check]:
    """A slower reference makes every other row's ratio fall at once (noise moves them both
    ways): per device, the median over the rows measured in both reports of each row's change in
    its geometric-mean ratio (``gated_ratio``)."""
    if tol.reference_shift is None:
        return []
    changes: dict[str, list[float]] = {}
    keys: set[str] = set()
    for base, row in _timed_pairs(new, baseline):
        # the reference row itself is 1.0 by definition; the reference variant on another
        # backend is a row like any other (the smoke gate's only row is the teacher on ONNX Runtime)
        if row["id"] == row_id(baseline["reference"], "pytorch", row.get("device", "cpu")):
            continue
        shapes = _paired_shapes(base, row)
        key = _row_ratio(shapes)
        pairs = [(b[key], n[key]) for b, n in shapes if n is not None]
        if pairs:
            keys.add(key)
            changes.setdefault(row.get("device", "cpu"), []).append(
                statistics.geometric_mean([n for _, n in pairs])
                / statistics.geometric_mean([b for b, _ in pairs]))
    out = []
    for device, ratios in changes.items():
        change = statistics.median(ratios) - 1
        out.append(Check(row_id(baseline["reference"], "pytorch", device),
                         f"reference shift: median {'/'.join(sorted(keys))} change of {len(ratios)} row(s)",
                         1.0, 1 + change, f"{change:+.1%}", f"drop <= {tol.reference_shift:.0%}",
                         -change > tol.reference_shift, abs(change) > tol.reference_shift / 3))
    return out


def _reference_path(new: dict[str, Any], baseline: dict[str, Any], tol: Tolerances) -> list[Check]:
    """The reference's own speed, which its ratios (1.0 by definition) cannot show: per device and
    shape, the median over the report's measurement processes of the reference's p50 in units of
    the calibration product timed in the same rounds (every process times the reference)."""
    if tol.latency_calibrated is None:
        return []
    out = []
    for (device, batch, seq), was in reference_calibrated(baseline).items():
        now = reference_calibrated(new).get((device, batch, seq))
        if now is not None:
            out.append(_rise(row_id(baseline["reference"], "pytorch", device),
                             f"b{batch}/s{seq} reference p50_calibrated (median of {now[1]} "
                             "processes)", was[0], now[0], tol.latency_calibrated))
    return out


def reference_calibrated(report: dict[str, Any]) -> dict[tuple, tuple[float, int]]:
    """(device, batch size, seq len) -> (median reference p50 / calibration, processes)."""
    values: dict[tuple, list[float]] = {}
    for row in report["rows"]:
        if row.get("status") != "ok":
            continue
        for entry in row.get("latency") or []:
            if entry.get("calibration_ms") and entry.get("reference_p50_ms"):
                key = (row.get("device", "cpu"), entry["batch_size"], entry["seq_len"])
                values.setdefault(key, []).append(entry["reference_p50_ms"] / entry["calibration_ms"])
    return {key: (statistics.median(v), len(v)) for key, v in values.items()}


def _eval_labels(new: dict[str, Any], baseline: dict[str, Any]) -> tuple[Any, int] | None:
    """The eval rows' labels and label count, when both reports kept them (same rows: compare
    refuses reports of different eval rows before it gets here)."""
    from benchmarks.paired import decode

    rows = [r.get("eval_rows") or {} for r in (new, baseline)]
    if not all(r.get("labels") for r in rows):
        return None
    return decode(rows[0]["labels"]), rows[0]["classes"]


def skipped(new: dict[str, Any], baseline: dict[str, Any], tol: Tolerances) -> list[str]:
    """One line per check that an older report could not feed (the pair is compared on what
    both have)."""
    out = []
    if tol.significance is not None and _eval_labels(new, baseline) is None:
        out.append("significance: skipped, a report keeps no per-row predictions (written before "
                   "they were kept): accuracy and F1 are judged on points alone")
    older = [base for base, row in _timed_pairs(new, baseline)
             if _row_ratio(_paired_shapes(base, row)) == "p50_ratio"]
    if older and (tol.latency is not None or tol.latency_shape is not None):
        out.append("round_ratio_p50: skipped, a report predates it: latency is judged on "
                   "p50_ratio, the ratio of the p50s (noisier)")
    if tol.latency_calibrated is not None and not all(
            reference_calibrated(rep) for rep in (new, baseline)):
        out.append("p50_calibrated: skipped, a report has no calibrated times: latency is judged "
                   "on ratios alone")
    return out


def _timed_pairs(new: dict[str, Any], baseline: dict[str, Any]) -> list[tuple[dict, dict]]:
    """(baseline row, new row) for each row timed in both reports."""
    rows = {r["id"]: r for r in new["rows"] if r.get("status") == "ok" and r.get("latency")}
    return [(b, rows[b["id"]]) for b in baseline["rows"]
            if b.get("status") == "ok" and b.get("latency") and b["id"] in rows]


def _serving(new: dict[str, Any], baseline: dict[str, Any], tol: Tolerances) -> list[Check]:
    """Load-test results of the same name: throughput may drop, p99 may rise, each relatively."""
    from benchmarks.serving import serving_checks

    out = []
    for name, metric, was, now, limit in serving_checks(new, baseline, tol.serving_throughput,
                                                         tol.serving_p99):
        row = f"serving {name}"
        if now is None:
            out.append(Check(row, metric, was, None, "not measured", "must be measured", True, True))
        elif metric == "throughput_rps":  # a drop is the regression: judge the inverse's rise
            drop = 1 - now / was
            out.append(Check(row, metric, was, now, f"{-drop:+.1%}", f"drop <= {limit:.0%}",
                             drop > limit, abs(drop) > limit / 3))
        else:
            out.append(_rise(row, metric, was, now, limit))
    return out


def _quality(base: dict[str, Any], row: dict[str, Any], tol: Tolerances,
             labels: tuple[Any, int] | None) -> list[Check]:
    out = []
    for metric in ("accuracy", "f1", "agreement"):
        limit = getattr(tol, metric)
        was, now = base["quality"].get(metric), row["quality"].get(metric)
        if limit is None or was is None or now is None:
            continue
        drop = (was - now) * 100
        check = Check(row["id"], metric, was, now, f"{0.0 - drop:+.2f} pt", f"drop <= {limit:g} pt",
                      drop > limit + 1e-9, abs(drop) > 1e-9)
        if check.failed and metric != "agreement" and tol.significance is not None:
            check = _judged_paired(check, metric, base, row, labels, tol.significance)
        out.append(check)
    return out


def _judged_paired(check: Check, metric: str, base: dict[str, Any], row: dict[str, Any],
                   labels: tuple[Any, int] | None, level: float) -> Check:
    """A drop past its limit, kept as a failure only when significant on the paired rows."""
    from dataclasses import replace

    from benchmarks.paired import accuracy_test, decode, f1_test

    was, now = decode(base.get("predictions")), decode(row.get("predictions"))
    if labels is None or was is None or now is None or not len(was) == len(now) == len(labels[0]):
        return replace(check, limit=check.limit + " (no per-row predictions: points alone)")
    result = (accuracy_test(labels[0], was, now, level) if metric == "accuracy"
              else f1_test(labels[0], was, now, labels[1], level))
    significant = result.p_value < level
    return replace(check, failed=significant,
                   change=f"{check.change} [{result.low_pt:+.2f}, {result.high_pt:+.2f}] "
                          f"p={result.p_value:.2g}",
                   limit=f"{check.limit}, or not significant at p < {level:g} ({result.test})")


def gated_ratio(*entries: dict[str, Any]) -> str:
    """The latency figure the gate compares: the median of the per-round ratios when every entry
    has it (the target and the reference paired within each round, so a slow spell of the machine
    cancels: REPORT.md, "Which ratio the gate reads"), else the ratio of the p50s (older reports)."""
    return "round_ratio_p50" if all(e.get("round_ratio_p50") for e in entries) else "p50_ratio"


def _paired_shapes(base: dict[str, Any], row: dict[str, Any]) -> list[tuple[dict, dict | None]]:
    return [(e, latency_at(row, e["batch_size"], e["seq_len"])) for e in base.get("latency") or []]


def _row_ratio(pairs: list[tuple[dict, dict | None]]) -> str:
    return gated_ratio(*[e for pair in pairs for e in pair if e is not None])


def _speed(base: dict[str, Any], row: dict[str, Any], tol: Tolerances) -> list[Check]:
    out, was, now = [], [], []
    pairs = _paired_shapes(base, row)
    key = _row_ratio(pairs)
    for entry, new in pairs:
        name = f"b{entry['batch_size']}/s{entry['seq_len']}"
        if new is None:
            out.append(Check(row["id"], f"{name} latency", None, None, "shape not measured",
                             "must be measured", True, True))
            continue
        was.append(entry[key])
        now.append(new[key])
        for metric, limit in ((key, tol.latency_shape), ("p90_ratio", tol.p90)):
            if limit is not None and entry.get(metric) and new.get(metric):
                out.append(_rise(row["id"], f"{name} {metric}", entry[metric], new[metric], limit))
    if tol.latency is not None and was:
        out.append(_rise(row["id"], f"{key} geomean of {len(was)} shape(s)",
                         statistics.geometric_mean(was), statistics.geometric_mean(now), tol.latency))
    return out


def _resources(base: dict[str, Any], row: dict[str, Any], tol: Tolerances) -> list[Check]:
    out = []
    for metric, limit in (("peak_rss_mb", tol.memory), ("size_bytes", tol.size)):
        if limit is not None and base.get(metric) and row.get(metric):
            out.append(_rise(row["id"], metric, base[metric], row[metric], limit))
    return out


def _rise(row: str, metric: str, was: float, now: float, limit: float) -> Check:
    rise = now / was - 1
    return Check(row, metric, was, now, f"{rise:+.1%}", f"rise <= {limit:.0%}", rise > limit,
                 abs(rise) > limit / 3)


def table(checks: list[Check]) -> str:
    """What moved (and everything that failed), then a one-line verdict."""
    shown = [c for c in checks if c.moved or c.failed]
    failed = [c for c in checks if c.failed]
    lines = []
    if shown:
        lines = markdown_table(
            ["row", "metric", "baseline", "new", "change", "limit", "verdict"],
            [[c.row, c.metric, _num(c.baseline), _num(c.new), c.change, c.limit,
              "FAIL" if c.failed else "ok"] for c in shown])
    verdict = (f"FAIL: {len(failed)} of {len(checks)} checks past tolerance" if failed
               else f"ok: {len(checks)} checks within tolerance")
    return "\n".join(lines + [verdict])


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.0f}"
