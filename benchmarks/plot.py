"""``pareto.png``: accuracy (or F1) against latency ratio at the pick shape, one point per
variant x backend, the frontier of faster-and-better points drawn, the accuracy budget shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimkit import atomic
from slimkit.settings import BenchmarkConfig


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both speed (lower x) and quality (higher y), by x."""
    kept, best_y = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            kept.append((x, y))
            best_y = y
    return kept


LABEL_PT, CHAR_PT, AXES_PT = 9.0, 4.0, (560.0, 360.0)  # fontsize-7 label box; axes size in points


def label_offsets(points: list[tuple[float, float]], labels: list[str]) -> list[float]:
    """Vertical offsets (points) that keep labels from overlapping: each label, in order of its
    point's height, takes the nearest free slot above or below its point (x on a log scale)."""
    import math

    xs = [math.log10(x) for x, _ in points]
    ys = [y for _, y in points]
    x_span, y_span = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float, float, float]] = []  # boxes in points
    offsets = [0.0] * len(points)
    for i in sorted(range(len(points)), key=lambda i: -ys[i]):
        left = (xs[i] - min(xs)) / x_span * AXES_PT[0] * 0.8 + 4
        base = (ys[i] - min(ys)) / y_span * AXES_PT[1] * 0.8
        width = CHAR_PT * len(labels[i])
        for step in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5):
            box = (left, base + step * LABEL_PT, left + width, base + (step + 1) * LABEL_PT)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed):
                break
        placed.append(box)
        offsets[i] = step * LABEL_PT
    return offsets


def pareto(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = BenchmarkConfig.model_validate(report["settings"])
    batch_size, seq_len = cfg.pick_shape
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    for device, marker in (("cpu", "o"), ("cuda", "s")):
        _plot_device(ax, report, cfg, device, marker)
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency / reference p50, batch {batch_size}, seq {seq_len} (log; left is faster)")
    ax.set_ylabel(f"{cfg.metric} (%)")
    ax.set_title(f"{Path(report['run_dir']).name}: {cfg.metric} vs latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic.replacing_file(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _plot_device(ax: Any, report: dict[str, Any], cfg: BenchmarkConfig, device: str,
                 marker: str) -> None:
    """One device's rows: points, their frontier, labels (the best in bold), the budget line."""
    from benchmarks.rows import latency_at, reference_row

    shape = cfg.pick_shape
    rows = [r for r in report["rows"] if r["device"] == device and r["status"] == "ok"
            and latency_at(r, *shape)]
    if not rows:
        return
    best = {b["id"] for b in report.get("best", {}).values()}
    points = [(latency_at(r, *shape)["p50_ratio"], r["quality"][cfg.metric] * 100) for r in rows]
    xs, ys = zip(*points, strict=True)
    ax.scatter(xs, ys, marker=marker, label=device.upper(), zorder=3)
    ax.step(*zip(*frontier(points), strict=True), where="post", color="tab:red", alpha=0.6,
            zorder=2, label=f"frontier ({device})")
    labels = [f"{row['variant']} / {row['backend']}" for row in rows]
    for row, label, (x, y), dy in zip(rows, labels, points, label_offsets(points, labels),
                                      strict=True):
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, dy), textcoords="offset points",
                    weight="bold" if row["id"] in best else "normal",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "alpha": 0.5} if dy else None)
    ref = reference_row(report, device)
    if ref:
        ax.axhline(ref["quality"][cfg.metric] * 100 - cfg.budget, color="grey", ls="--", lw=1,
                   label=f"{cfg.budget:g} pt budget ({device})")
