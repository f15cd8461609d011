"""What a report keeps of each variant's manifest beside its measured rows: the training record
(loss curve and validation scores, for every trained variant) and the per-class scores and
confusion matrix (shown for the reference, the pick and the peers). ``slimkit report`` renders them
as report.md's "Training" and "Per class" sections and ``training.png`` (one panel per trained
variant), from the JSON alone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from slimkit.tables import markdown_table

TRAINING_PLOT = "training.png"


def variant_details(run_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """The measured variants' details, and their ancestors' (the pruned model trained before its
    ONNX export was measured is a trained variant of the report too)."""
    out = {}
    for name, manifest in _with_ancestors(run_dir, names):
        entry: dict[str, Any] = {"labels": manifest.label_names}
        metrics = manifest.metrics or {}
        if "per_class" in metrics:
            entry.update(per_class=metrics["per_class"], confusion_matrix=metrics["confusion_matrix"])
        training = manifest.training or {}
        if training.get("history"):
            entry["training"] = {k: training.get(k) for k in
                                 ("steps", "best_step", "best_metric", "history", "loss_curve")}
            entry["training"]["metric"] = training_metric(training, manifest.stage_config)
        out[name] = entry
    return out


def _with_ancestors(run_dir: Path, names: list[str]) -> list[tuple[str, Any]]:
    """(name, manifest) of each variant named, then of each parent up the lineage, once each, in
    that order; a folder without a manifest ends its line."""
    from slimkit.artifacts import read_manifest

    found: dict[str, Any] = {}
    for name in names:
        while name and name not in found:
            manifest = read_manifest(run_dir / name)
            if manifest is None:
                break
            found[name] = manifest
            name = manifest.parent
    return list(found.items())


def training_metric(training: dict[str, Any], stage_config: dict[str, Any]) -> str:
    """What the kept checkpoint was chosen by: the record says so; an older record's stage config
    (``prune_gradually`` keeps it under ``recover``)."""
    recover = stage_config.get("recover") or {}
    return (training.get("metric") or stage_config.get("metric") or recover.get("metric")
            or "accuracy")


def training_lines(details: dict[str, dict[str, Any]], plot: str = TRAINING_PLOT) -> list[str]:
    trained = {n: d["training"] for n, d in details.items() if d.get("training")}
    if not trained:
        return []
    rows = [[name, t["steps"], t["best_step"], f"{t['metric']} {t['best_metric']:.4f}",
             _last_loss(t)] for name, t in sorted(trained.items())]
    return ["", f"Training (loss and validation curves: `{plot}` beside this file, one "
            "panel per trained variant):", "",
            *markdown_table(["variant", "steps", "kept step", "best validation", "last loss"], rows)]


def _last_loss(training: dict[str, Any]) -> str:
    curve = training.get("loss_curve") or []
    return f"{curve[-1][1]:.4f}" if curve else "-"


def per_class_lines(details: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """Precision, recall, F1 and support per label, and the confusion matrix (rows: true label)."""
    lines = []
    for name in dict.fromkeys(names):
        entry = details.get(name) or {}
        if "per_class" not in entry:
            continue
        labels = entry["labels"]
        rows = [[label, *(f"{entry['per_class'][label][k]:.4f}" for k in ("precision", "recall", "f1")),
                 entry["per_class"][label]["support"], *entry["confusion_matrix"][i]]
                for i, label in enumerate(labels)]
        head = ["label", "precision", "recall", "F1", "support",
                *(f"predicted {label}" for label in labels)]
        lines += ["", f"Per class, `{name}` (its own evaluation on the eval rows):", "",
                  *markdown_table(head, rows)]
    return lines


def plot_training(details: dict[str, dict[str, Any]], path: Path) -> None:
    """One panel per trained variant: training loss and validation metric against step."""
    from slimkit import atomic

    trained = {n: d["training"] for n, d in details.items() if d.get("training")}
    if not trained:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(trained))
    fig, axes = plt.subplots(math.ceil(len(trained) / cols), cols, squeeze=False,
                             figsize=(4.5 * cols, 3.2 * math.ceil(len(trained) / cols)), dpi=90)
    for ax, (name, training) in zip(axes.flat, trained.items(), strict=False):
        _panel(ax, name, training)
    for ax in list(axes.flat)[len(trained):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic.replacing_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _panel(ax: Any, name: str, training: dict[str, Any]) -> None:
    if training.get("loss_curve"):
        steps, losses = zip(*training["loss_curve"], strict=True)
        ax.plot(steps, losses, color="tab:blue", lw=1)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("training loss", color="tab:blue", fontsize=8)
    metric, evals = training["metric"], training["history"]
    twin = ax.twinx()
    twin.plot([e["step"] for e in evals], [e[metric] for e in evals], "o-", color="tab:orange")
    twin.axvline(training["best_step"], color="tab:green", ls="--", lw=1)
    twin.set_ylabel(f"validation {metric}", color="tab:orange", fontsize=8)
