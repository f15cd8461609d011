"""Latency of runtimes on real token ids: warm-up, then interleaved rounds so that every runtime
sees the same machine noise, then percentiles and ratios to a reference measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from slimkit.data import Dataset


@dataclass(frozen=True)
class Latency:
    batch_size: int
    seq_len: int
    iterations: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    stdev_ms: float
    throughput: float  # sequences per second at p50

    @classmethod
    def from_values(cls, seconds: list[float], batch_size: int, seq_len: int) -> Latency:
        ms = np.asarray(seconds) * 1e3
        p50 = float(np.percentile(ms, 50))
        return cls(batch_size, seq_len, len(ms), p50, float(np.percentile(ms, 90)),
                   float(np.percentile(ms, 99)), float(ms.mean()),
                   float(statistics.pstdev(ms.tolist())), batch_size / (p50 / 1e3))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fixed_batch(tokenizer: Any, rows: Dataset, batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """Real eval rows, padded or truncated to exactly ``seq_len`` tokens."""
    take = rows.subset([i % len(rows) for i in range(batch_size)])
    out = tokenizer(take.texts, take.text_pairs, truncation=True, max_length=seq_len,
                    padding="max_length", return_tensors="np")
    return {k: v.astype(np.int64) for k, v in out.items()}


def interleaved(forwards: dict[str, Callable[[dict[str, np.ndarray]], Any]],
                batch: dict[str, np.ndarray], *, warmup: int = 10, rounds: int = 10,
                per_round: int = 10) -> dict[str, list[float]]:
    """Seconds per call for each runtime; rounds alternate between runtimes."""
    for forward in forwards.values():
        for _ in range(warmup):
            forward(batch)
    times: dict[str, list[float]] = {name: [] for name in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            for _ in range(per_round):
                start = time.perf_counter()
                forward(batch)
                times[name].append(time.perf_counter() - start)
    return times
