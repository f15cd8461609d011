"""One measurement in a fresh process, so that one variant's memory and threads do not pollute the
next: ``python -m benchmarks.worker SPEC.json OUT.json``.

Order matters: the target is loaded and run at every benchmarked shape first, and the peak
resident memory is read then (the reference is not loaded yet); then quality on the eval rows;
then the reference is loaded and both are timed in alternating rounds."""

from __future__ import annotations

import json
import logging
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.latency import (
    REAL,
    Calibration,
    fixed_batch,
    real_batches,
    shape_result,
    time_pair,
)
from benchmarks.plant import planted
from slimkit import atomic
from slimkit.data import Dataset
from slimkit.metrics import classification_metrics
from slimkit.settings import BenchmarkConfig

log = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps ru_maxrss across exec (it would report
    the harness's own peak), so VmHWM, which starts afresh with the new program, comes first."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_rows(path: Path) -> Dataset:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Dataset(raw["texts"], raw["text_pairs"], raw["labels"], raw["label_names"], raw["source"])


def open_target(target: dict[str, Any], threads: int) -> tuple[Any, Any]:
    from backends.registry import open_runtime
    from slimkit.artifacts import load_variant

    variant = load_variant(target["folder"])
    graph = Path(target["graph"]) if target.get("graph") else None
    runtime = open_runtime(variant, target["backend"], target["device"], threads, graph)
    return variant, planted(runtime, f"{target['variant']}/{target['backend']}")


def cuda_peak_mb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from slimkit.inference import batched_logits

    cfg = BenchmarkConfig.model_validate(spec["settings"])
    threads, device = spec["threads"], spec["target"]["device"]
    torch.set_num_threads(threads)
    rows = read_rows(Path(spec["eval_rows"]))
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    variant, runtime = open_target(spec["target"], threads)
    shapes = [(b, s) for b in cfg.batch_sizes for s in cfg.seq_lens]
    batches = {shape: fixed_batch(variant.tokenizer, rows, *shape) for shape in shapes}
    for batch in batches.values():
        for _ in range(max(1, cfg.warmup)):
            runtime.logits(batch)
    memory = {"rss_before_load_mb": rss_before, "peak_rss_mb": peak_rss_mb(),
              "cuda_peak_mb": cuda_peak_mb(device), "load_and_warmup_s": time.perf_counter() - started}
    logits = batched_logits(runtime.logits, variant.tokenizer, rows, spec["max_length"],
                            cfg.eval_batch_size, progress=False)
    predictions = logits.argmax(axis=1).tolist()
    quality = classification_metrics(rows.labels, predictions, rows.label_names)
    reference = open_target(spec["reference"], threads)[1] if spec.get("reference") else None
    if cfg.real_texts:
        batches[(1, REAL)] = real_batches(variant.tokenizer, rows, spec["max_length"])
    latency, calibration = _latency(runtime, reference, batches, cfg, device)
    return {"status": "ok", **memory, "threads": threads,
            "calibration_ms": statistics.median(calibration),
            "quality": {k: quality[k] for k in ("accuracy", "f1")}, "predictions": predictions,
            "latency": latency}


def _latency(runtime: Any, reference: Any, batches: dict, cfg: BenchmarkConfig,
             device: str) -> tuple[list[dict[str, Any]], list[float]]:
    """Each shape timed against the reference, with the calibration product timed in the same
    rounds: (latency entries, every round's calibration time)."""
    calibrate, calibration, latency = Calibration(), [], []
    for (batch_size, seq_len), batch in batches.items():
        timing = time_pair(runtime.logits, reference.logits if reference else None, batch,
                           device=device, warmup=cfg.warmup, rounds=cfg.rounds,
                           per_round=cfg.per_round, min_seconds=cfg.min_seconds,
                           calibrate=calibrate)
        entry = shape_result(timing, batch_size, seq_len)
        # in units of the calibration product timed in the same rounds as this shape
        entry["calibration_ms"] = statistics.median(timing.calibration)
        entry["p50_calibrated"] = entry["p50_ms"] / entry["calibration_ms"]
        latency.append(entry)
        calibration += timing.calibration
    return latency, calibration


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    atomic.write_json(Path(argv[1]), measure(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
