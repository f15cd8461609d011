"""``pareto.png``: accuracy (or F1) against latency ratio at the pick shape, one point per
variant x backend, the frontier of faster-and-better points drawn, the accuracy budget shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.settings import BenchmarkConfig


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both speed (lower x) and quality (higher y), by x."""
    kept, best_y = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            kept.append((x, y))
            best_y = y
    return kept


def pareto(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.report import latency_at, reference_row

    cfg = BenchmarkConfig.model_validate(report["settings"])
    batch_size, seq_len = cfg.pick_shape
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    best = {b["id"] for b in report.get("best", {}).values()}
    for device, marker in (("cpu", "o"), ("cuda", "s")):
        rows = [r for r in report["rows"] if r["device"] == device and r["status"] == "ok"
                and latency_at(r, batch_size, seq_len)]
        if not rows:
            continue
        points = [(latency_at(r, batch_size, seq_len)["p50_ratio"], r["quality"][cfg.metric] * 100)
                  for r in rows]
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, marker=marker, label=device.upper(), zorder=3)
        edge = frontier(points)
        ax.step(*zip(*edge, strict=True), where="post", color="tab:red", alpha=0.6, zorder=2,
                label=f"frontier ({device})")
        for row, (x, y) in zip(rows, points, strict=True):
            ax.annotate(f"{row['variant']} / {row['backend']}", (x, y), fontsize=7,
                        xytext=(4, 3), textcoords="offset points",
                        weight="bold" if row["id"] in best else "normal")
        ref = reference_row(report, device)
        if ref:
            ax.axhline(ref["quality"][cfg.metric] * 100 - cfg.budget, color="grey", ls="--", lw=1,
                       label=f"{cfg.budget:g} pt budget ({device})")
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency / reference p50, batch {batch_size}, seq {seq_len} (log; left is faster)")
    ax.set_ylabel(f"{cfg.metric} (%)")
    ax.set_title(f"{Path(report['run_dir']).name}: {cfg.metric} vs latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
