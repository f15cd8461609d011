"""Planted slow-downs for the gate study (``benchmarks/gate_study.py``): with
``SLIMKIT_PLANT_SLOWDOWN="teacher/pytorch=0.2,student/onnxruntime=0.2"`` in its environment, a
measurement process makes each named ``variant/backend`` busy-wait 20 % of its own call time after
every call, wherever it runs (as the measured row or as the reference the rows are timed
against). Without the variable nothing changes; a bad value is refused, not ignored."""

from __future__ import annotations

import os
import time
from typing import Any

from slimkit.errors import SlimkitError

ENV = "SLIMKIT_PLANT_SLOWDOWN"


def plan(value: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (value or "").split(",")):
        key, _, factor = item.partition("=")
        try:
            out[key.strip()] = float(factor)
        except ValueError:
            raise SlimkitError(f"{ENV}: {item!r} is not variant/backend=FACTOR") from None
        if not 0 < out[key.strip()] <= 10:
            raise SlimkitError(f"{ENV}: {item!r}: the factor must be in (0, 10]")
    return out


class Slowed:
    """A runtime whose every call takes ``1 + factor`` times as long (the extra on one core)."""

    def __init__(self, runtime: Any, factor: float) -> None:
        self.runtime, self.factor = runtime, factor

    def logits(self, batch: Any) -> Any:
        start = time.perf_counter()
        out = self.runtime.logits(batch)
        until = time.perf_counter() + (time.perf_counter() - start) * self.factor
        while time.perf_counter() < until:
            pass
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtime, name)


def planted(runtime: Any, key: str) -> Any:
    factor = plan(os.environ.get(ENV)).get(key)
    return runtime if factor is None else Slowed(runtime, factor)
