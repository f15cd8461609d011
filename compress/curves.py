"""Training you can see: the loss every few steps and the validation scores at each evaluation,
kept in the manifest (``training.loss_curve``, ``training.history``) and written beside the model
as ``training_curves.json`` and ``training_curves.png`` (loss and validation metric vs step)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

CURVE_POINTS = 200  # loss points kept per training run (the manifest stays small)
CURVES_JSON, CURVES_PNG = "training_curves.json", "training_curves.png"


@dataclass
class LossCurve:
    """Mean training loss over each ``every`` steps, appended to ``points`` as [step, loss]."""

    every: int
    points: list[list[float]]
    total: float = 0.0
    count: int = 0

    def add(self, step: int, loss: float) -> None:
        self.total, self.count = self.total + loss, self.count + 1
        if self.count == self.every:
            self.points.append([step, round(self.total / self.count, 5)])
            self.total, self.count = 0.0, 0


def curve_files(training: dict[str, Any], metric: str, title: str) -> dict[str, bytes]:
    """The two files of a training record (``FitResult.record()``)."""
    data = {"metric": metric, "loss": training["loss_curve"], "evaluations": training["history"],
            "best_step": training["best_step"], "steps": training["steps"]}
    return {CURVES_JSON: (json.dumps(data, indent=1) + "\n").encode(),
            CURVES_PNG: _plot(data, title)}


def _plot(data: dict[str, Any], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, loss_ax = plt.subplots(figsize=(7, 4), dpi=100)
    if data["loss"]:
        steps, losses = zip(*data["loss"], strict=True)
        loss_ax.plot(steps, losses, color="tab:blue", lw=1, label="training loss")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss", color="tab:blue")
    metric_ax = loss_ax.twinx()
    evals = data["evaluations"]
    metric_ax.plot([e["step"] for e in evals], [e[data["metric"]] for e in evals], "o-",
                   color="tab:orange", label=f"validation {data['metric']}")
    metric_ax.axvline(data["best_step"], color="tab:green", ls="--", lw=1, label="kept checkpoint")
    metric_ax.set_ylabel(f"validation {data['metric']}", color="tab:orange")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    loss_ax.set_title(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def tracker(folder: Any) -> dict[str, Any]:
    """Accelerator options for TensorBoard event files in ``folder`` (its parent is the project,
    its name the run, so ``tensorboard --logdir RUN/tensorboard`` shows every variant); none
    without a folder."""
    if not folder:
        return {}
    from slimkit.runtime import require

    require("tensorboard", "tensorboard")
    return {"log_with": "tensorboard", "project_dir": str(folder.parent)}
