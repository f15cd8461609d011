"""Classification quality: accuracy, F1 (binary positive-class F1 for two labels, macro otherwise),
per-class precision / recall / F1 and the confusion matrix."""

from __future__ import annotations

from typing import Any


def classification_metrics(labels: list[int], predictions: list[int],
                           label_names: list[str]) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    ids = list(range(len(label_names)))
    binary = len(label_names) == 2
    f1 = f1_score(labels, predictions, labels=ids, average="binary" if binary else "macro",
                  pos_label=1, zero_division=0)
    precision, recall, per_f1, support = precision_recall_fscore_support(
        labels, predictions, labels=ids, zero_division=0)
    per_class = {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1": float(per_f1[i]), "support": int(support[i])}
                 for i, name in enumerate(label_names)}
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1": float(f1),
        "f1_average": f"binary (positive class '{label_names[1]}')" if binary else "macro",
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(labels, predictions, labels=ids).tolist(),
        "rows": len(labels),
    }
