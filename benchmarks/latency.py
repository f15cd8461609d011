"""Latency on real token ids: warm-up, then rounds that alternate the target and the reference in
one process so both see the same machine noise; percentiles, throughput and ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from slimkit.data import Dataset

Forward = Callable[[dict[str, np.ndarray]], Any]
REAL = "real"  # the seq_len of the real-texts entry: each eval row at its own length


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
    throughput: float  # sequences per second at the p50 latency

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


def timer(device: str) -> Callable[[Forward, dict[str, np.ndarray]], float]:
    """Seconds for one call: wall clock on CPU, CUDA events (after synchronising) on a GPU."""
    if not device.startswith("cuda"):
        def cpu(forward: Forward, batch: dict[str, np.ndarray]) -> float:
            start = time.perf_counter()
            forward(batch)
            return time.perf_counter() - start
        return cpu
    import torch

    def cuda(forward: Forward, batch: dict[str, np.ndarray]) -> float:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        begin.record()
        forward(batch)
        end.record()
        torch.cuda.synchronize()
        return begin.elapsed_time(end) / 1e3
    return cuda


@dataclass
class PairTiming:
    target: list[float]
    reference: list[float]
    round_ratios: list[float]  # median target / median reference, per round
    calibration: list[float] = field(default_factory=list)  # the calibration product, per round


def real_batches(tokenizer: Any, rows: Dataset, max_length: int) -> list[dict[str, np.ndarray]]:
    """One batch per eval row at its own token length (batch 1, no padding): real traffic."""
    out = []
    for i in range(len(rows)):
        pair = [rows.text_pairs[i]] if rows.text_pairs is not None else None
        encoded = tokenizer([rows.texts[i]], pair, truncation=True, max_length=max_length,
                            return_tensors="np")
        out.append({k: v.astype(np.int64) for k, v in encoded.items()})
    return out


def time_pair(target: Forward, reference: Forward | None,
              batch: dict[str, np.ndarray] | list[dict[str, np.ndarray]], *, device: str = "cpu",
              warmup: int = 5, rounds: int = 10, per_round: int = 5, min_seconds: float = 0.0,
              calibrate: Callable[[], float] | None = None) -> PairTiming:
    """Alternate ``per_round`` calls of the target and of the reference (order flipped every
    round), for at least ``rounds`` rounds and ``min_seconds``. No reference: the target alone.
    A list of batches is taken in turn, the same ``per_round`` of them for both in a round.
    ``calibrate`` (milliseconds of a fixed piece of work) is timed once a round, so that the
    machine's speed is read while the target runs, not only before and after."""
    timed, batches = timer(device), batch if isinstance(batch, list) else [batch]
    for forward in (target, reference):
        for i in range(warmup if forward else 0):
            forward(batches[i % len(batches)])
    out = PairTiming([], [], [])
    started, done = time.perf_counter(), 0
    while done < rounds or time.perf_counter() - started < min_seconds:
        order = [("target", target), ("reference", reference)]
        spent: dict[str, list[float]] = {}
        these = [batches[(done * per_round + i) % len(batches)] for i in range(per_round)]
        for role, forward in order if done % 2 == 0 else order[::-1]:
            if forward is not None:
                spent[role] = [timed(forward, b) for b in these]
        out.target += spent["target"]
        if reference is not None:
            out.reference += spent["reference"]
            out.round_ratios.append(statistics.median(spent["target"])
                                    / statistics.median(spent["reference"]))
        if calibrate is not None:
            out.calibration.append(calibrate())
        done += 1
    return out


def shape_result(timing: PairTiming, batch_size: int, seq_len: int | str) -> dict[str, Any]:
    """The report's latency entry: the target's percentiles and its ratios to the reference."""
    target = Latency.from_values(timing.target, batch_size, seq_len)
    entry = target.to_json()
    if not timing.reference:  # the reference itself
        entry.update(reference_p50_ms=target.p50_ms, p50_ratio=1.0, p90_ratio=1.0,
                     round_ratio_min=1.0, round_ratio_max=1.0, round_ratio_p50=1.0)
        return entry
    ref = Latency.from_values(timing.reference, batch_size, seq_len)
    entry.update(reference_p50_ms=ref.p50_ms, p50_ratio=target.p50_ms / ref.p50_ms,
                 p90_ratio=target.p90_ms / ref.p90_ms, round_ratio_min=min(timing.round_ratios),
                 round_ratio_max=max(timing.round_ratios),
                 # the gate's figure: each round pairs the two runtimes within a second or two,
                 # so a slow spell of the machine cancels in the round's ratio (REPORT.md)
                 round_ratio_p50=statistics.median(timing.round_ratios))
    return entry


class Calibration:
    """A fixed piece of work that no backend under test runs (a 384 x 1536 by 1536 x 384 float32
    product through NumPy's BLAS, on one thread): a row's p50 divided by its time is an absolute
    speed in units of this machine, so a slower reference path shows even when ratios cannot.

    One thread and the fastest of a few calls: timed between model calls, a two-thread product
    shares the cores with the backends' spinning worker threads and varied 2.8x (coefficient of
    variation 31 %) over 40 rounds beside the MiniLM teacher; one thread, fastest of 3: 1.16x
    (3.7 %)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((384, 1536), dtype=np.float32)
        self.b = rng.standard_normal((1536, 384), dtype=np.float32)
        self(calls=5)

    def __call__(self, calls: int = 3) -> float:
        """Milliseconds of the fastest of ``calls`` products."""
        from threadpoolctl import threadpool_limits

        seconds = []
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(calls):
                start = time.perf_counter()
                self.a @ self.b
                seconds.append(time.perf_counter() - start)
        return min(seconds) * 1e3
