"""Intel Neural Compressor 3.x PT2E dynamic INT8 as a ``quantize`` engine (``engine: inc``).

INC's converted graph cannot be pickled, so the variant folder stores the FP32 weights plus the
calibration rows (``inc_calibration.npz``), and the INT8 graph is rebuilt when the variant opens.
INC needs a calibration pass (without one its dynamic path returns garbage) and example inputs of
batch >= 2; it is slower than PyTorch FP32 in eager mode on this CPU (see the README).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from backends.inc import CALIBRATION, IncRuntime
from slimkit.stage import RunContext, Variant


class IncVariant(Variant):
    def save(self, folder: Path) -> None:
        super().save(folder)
        np.savez(folder / CALIBRATION, **self.extras.pop("_calibration"))
        self.extras["calibration_file"] = CALIBRATION


def quantize(parent: Variant, cfg: Any, ctx: RunContext) -> Variant:
    from compress.quantize_backends import calibration_batches

    rows = [b for _, b in zip(range(cfg.calibration_rows),
                              calibration_batches(parent, ctx, cfg.calibration_rows, True), strict=False)]
    arrays = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    variant = IncVariant(name="", model=copy.deepcopy(parent.model).eval(), tokenizer=parent.tokenizer,
                         backend="inc", extras={"_calibration": arrays})
    variant.runtime = IncRuntime(variant.model, arrays)
    return variant
