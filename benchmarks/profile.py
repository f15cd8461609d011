"""``slimkit profile RUN_DIR --variants ...``: where one call's time goes on a variant's own backend.

Each backend's own profiler gives per-operator times (torch.profiler, ONNX Runtime's session
profiling, OpenVINO's PERF_COUNT); they are grouped into kinds, and what no operator accounts for
is the framework's overhead. The FLOPs of the call are set against two rates measured on this
machine with the same threads: a large square matrix product (the CPU's practical ceiling) and the
model's own widest GEMM shape at this batch and length."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

KINDS = (  # first match wins: a quantized matmul is a matmul, a bare QuantizeLinear is quantize
    ("matmul", ("matmul", "gemm", "addmm", "aten::mm", "bmm", "aten::linear", "fullyconnected")),
    ("attention", ("softmax", "attention", "scaled_dot_product")),
    ("quantize", ("quantize", "dequantize")),
    ("norm", ("layernorm", "layer_norm", "mvn", "normaliz")),
    ("activation", ("gelu", "erf", "tanh", "relu")),
    ("embedding", ("embedding", "gather", "index_select")),
)

KIND_NAMES = [*(kind for kind, _ in KINDS), "other"]


def kind_of(op: str) -> str:
    name = op.split(" (")[0].lower()  # OpenVINO's "(exec type)" names kernels, not the operation
    return next((kind for kind, keys in KINDS if any(k in name for k in keys)), "other")


def _torch_ops(runtime: Any, batch: dict[str, np.ndarray], calls: int) -> tuple[dict, float]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        for _ in range(calls):
            runtime.logits(batch)
    ops, flops = {}, 0.0
    for event in prof.key_averages():
        if event.self_cpu_time_total > 0:
            ops[event.key] = (event.self_cpu_time_total / 1e3, event.count)
        flops += event.flops or 0
    return ops, flops / calls


def _onnxruntime_ops(path: Path, threads: int, batch: dict[str, np.ndarray], calls: int,
                     warmup: int) -> dict:
    from slimkit.runtimes import feed_for, require

    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="slimkit-ort-")) / "profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = feed_for({i.name for i in session.get_inputs()}, batch)
    for _ in range(warmup + calls):
        session.run(None, feed)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text(encoding="utf-8"))
    trace.unlink(missing_ok=True)
    per_node: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_node[event["args"]["op_name"] + "\0" + event["name"]].append(event["dur"] / 1e3)
    ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for key, durations in per_node.items():  # the warm-up runs are left out
        kept = durations[-calls:]
        op = key.split("\0")[0]
        ops[op][0] += sum(kept)
        ops[op][1] += len(kept)
    return {op: (ms, count) for op, (ms, count) in ops.items()}


def _openvino_ops(runtime: Any, batch: dict[str, np.ndarray], calls: int) -> dict:
    from slimkit.runtimes import feed_for

    ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    feed = feed_for(runtime.inputs, batch)
    for _ in range(calls):
        runtime.request.infer(feed)
        for info in runtime.request.get_profiling_info():
            if info.real_time.total_seconds() > 0:
                op = f"{info.node_type} ({info.exec_type})"
                ops[op][0] += info.real_time.total_seconds() * 1e3
                ops[op][1] += 1
    return {op: (ms, count) for op, (ms, count) in ops.items()}


def _wall_ms(forward: Any, batch: dict[str, np.ndarray], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        forward(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def matmul_gflops(m: int, k: int, n: int, threads: int, seconds: float = 0.5) -> float:
    """Measured FP32 rate of an (m x k) @ (k x n) product with torch at ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def model_flops(variant: Any, batch: dict[str, np.ndarray], calls: int = 2) -> float | None:
    """FLOPs of one call, counted by torch.profiler on the variant's PyTorch model when it has one."""
    model = getattr(variant, "model", None)
    if model is None:
        return None
    from slimkit.runtimes import TorchRuntime

    return _torch_ops(TorchRuntime(model), batch, calls)[1] or None


def profile_variant(variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                    warmup: int, flops: float | None) -> dict[str, Any]:
    """Wall time per call without the profiler, then per-operator time with it."""
    from slimkit.runtimes import OpenVinoRuntime, open_runtime

    backend = variant.backend
    if backend not in ("pytorch", "onnxruntime", "openvino"):
        raise_unsupported(backend)
    runtime = open_runtime(variant, backend, "cpu", threads)
    for _ in range(warmup):
        runtime.logits(batch)
    wall = _wall_ms(runtime.logits, batch, calls)
    if backend == "pytorch":
        ops, counted = _torch_ops(runtime, batch, calls)
        flops = flops or counted or None
    elif backend == "onnxruntime":
        ops = _onnxruntime_ops(variant.artifact, threads, batch, calls, warmup)
    else:
        precision = getattr(variant, "options", {}).get("precision", "f32")
        counting = OpenVinoRuntime(variant.artifact, precision, threads, perf_count=True)
        for _ in range(warmup):
            counting.logits(batch)
        ops = _openvino_ops(counting, batch, calls)
    return summarize(variant.name, backend, wall, ops, calls, flops)


def raise_unsupported(backend: str) -> None:
    from slimkit.errors import RecipeError

    raise RecipeError(f"variants made for {backend} cannot be profiled", file="slimkit profile",
                      field="--variants", fix="name pytorch, onnxruntime or openvino variants")


def summarize(name: str, backend: str, wall_ms: float, ops: dict[str, tuple[float, int]],
              calls: int, flops: float | None) -> dict[str, Any]:
    per_call = {op: ms / calls for op, (ms, _) in ops.items()}
    kinds: dict[str, float] = defaultdict(float)
    for op, ms in per_call.items():
        kinds[kind_of(op)] += ms
    in_ops = sum(per_call.values())
    top = sorted(per_call.items(), key=lambda item: -item[1])
    return {"variant": name, "backend": backend, "wall_ms": wall_ms, "in_ops_ms": in_ops,
            "overhead_ms": max(0.0, wall_ms - in_ops), "kinds": dict(kinds),
            "ops": [{"op": op, "kind": kind_of(op), "ms": ms, "calls": ops[op][1] / calls}
                    for op, ms in top],
            "flops": flops, "gflops_per_s": flops / wall_ms / 1e6 if flops else None}


def flops_source(run_dir: Path, name: str) -> Path | None:
    """The nearest PyTorch FP32 ancestor of a variant (itself included): the same computation,
    which torch.profiler can count FLOPs on."""
    from slimkit.artifacts import read_manifest

    seen: set[str] = set()
    while name and name not in seen:
        seen.add(name)
        manifest = read_manifest(run_dir / name) or {}
        kind = (manifest.get("stage_config") or {}).get("kind")
        if manifest.get("backend") == "pytorch" and kind != "quantize":
            return run_dir / name
        name = manifest.get("parent") or ""
    return None


def profile_run(run_dir: Path, names: list[str], *, batch_size: int, seq_len: int, threads: int,
                calls: int, warmup: int) -> dict[str, Any]:
    """Profile each named variant of a finished run on its own backend, on real eval rows."""
    import torch

    import slimkit
    from benchmarks.latency import fixed_batch
    from benchmarks.machine import machine_info
    from benchmarks.targets import variant_folders
    from slimkit.data import load_splits
    from slimkit.errors import RecipeError
    from slimkit.recipe import recipe_of

    torch.set_num_threads(threads)
    folders = variant_folders(run_dir)
    results, widest, eval_rows, flops_of = [], (0, 0), {}, {}
    for name in names:
        if name not in folders:
            raise RecipeError(f"{name} is not a finished variant of {run_dir}", file="slimkit profile",
                              field="--variants", fix=f"use some of: {', '.join(folders)}")
        _check_target(folders[name], seq_len)
        variant = slimkit.load(str(folders[name]))
        config = getattr(variant, "config", None) or variant.model.config
        text = variant.manifest["recipe"]["text"]
        if text not in eval_rows:  # variants of one run share their recipe's rows
            eval_rows[text] = load_splits(recipe_of(variant.manifest).data).eval
        batch = fixed_batch(variant.tokenizer, eval_rows[text], batch_size, seq_len)
        source = flops_source(run_dir, name)
        if source not in flops_of and source != folders[name]:  # a PyTorch variant counts its own
            flops_of[source] = model_flops(slimkit.load(str(source)), batch) if source else None
        flops = flops_of.get(source)
        log.info("profiling %s on %s", name, variant.backend)
        results.append(profile_variant(variant, batch, threads=threads, calls=calls,
                                       warmup=warmup, flops=flops))
        widest = max(widest, _ffn_shape(config))
    rates = {"square_1024": matmul_gflops(1024, 1024, 1024, threads),
             "model_ffn": matmul_gflops(batch_size * seq_len, *widest, threads)}
    return {"batch_size": batch_size, "seq_len": seq_len, "threads": threads, "calls": calls,
            "ffn_shape": [batch_size * seq_len, *widest], "matmul_gflops": rates,
            "machine": machine_info(), "variants": results}


def _check_target(folder: Path, seq_len: int) -> None:
    """Bad input fails before a model is loaded: a backend without a profiler, too long a length."""
    from slimkit.artifacts import read_manifest
    from slimkit.errors import RecipeError

    backend = (read_manifest(folder) or {}).get("backend", "pytorch")
    if backend not in ("pytorch", "onnxruntime", "openvino"):
        raise_unsupported(backend)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    longest = config.get("max_position_embeddings")
    if longest and seq_len > longest:
        raise RecipeError(f"{seq_len} is longer than {folder.name}'s {longest} positions",
                          file="slimkit profile", field="--seq-len", fix=f"use at most {longest}")


def _ffn_shape(config: Any) -> tuple[int, int]:
    """(hidden, intermediate): DistilBERT names them dim / hidden_dim."""
    return (getattr(config, "hidden_size", None) or config.dim,
            getattr(config, "intermediate_size", None) or config.hidden_dim)


def markdown(result: dict[str, Any], top: int = 8) -> str:
    rates, machine = result["matmul_gflops"], result["machine"]
    m, k, n = result["ffn_shape"]
    lines = [f"# Where the time goes: batch {result['batch_size']}, seq {result['seq_len']}", "",
             f"Machine: {machine['cpu']} (flags: {', '.join(machine['cpu_flags']) or 'none'}), "
             f"{result['threads']} threads. Measured FP32 matmul rate with torch: "
             f"{rates['square_1024']:.0f} GFLOP/s on 1024x1024x1024, {rates['model_ffn']:.0f} "
             f"GFLOP/s on the model's FFN shape {m}x{k}x{n}. Times are per call, from each "
             f"backend's own profiler over {result['calls']} calls; wall is without the profiler.",
             *([f"Reproduce: `{result['command']}`."] if result.get("command") else []),
             "", "| variant | backend | wall ms | in operators ms | overhead ms | GFLOP/call | "
             "GFLOP/s | " + " | ".join(KIND_NAMES) + " |", "|---" * (7 + len(KIND_NAMES)) + "|"]
    for v in result["variants"]:
        share = {kind: v["kinds"].get(kind, 0.0) / max(v["in_ops_ms"], 1e-9) for kind in KIND_NAMES}
        flops = f"{v['flops'] / 1e9:.3f}" if v["flops"] else "-"
        rate = f"{v['gflops_per_s']:.0f}" if v["gflops_per_s"] else "-"
        lines.append(f"| {v['variant']} | {v['backend']} | {v['wall_ms']:.2f} | {v['in_ops_ms']:.2f} "
                     f"| {v['overhead_ms']:.2f} | {flops} | {rate} | "
                     + " | ".join(f"{share[kind]:.0%}" for kind in KIND_NAMES) + " |")
    for v in result["variants"]:
        lines += ["", f"## {v['variant']} ({v['backend']}): top operators", "",
                  "| operator | kind | ms per call | runs per call |", "|---|---|---|---|"]
        lines += [f"| {o['op']} | {o['kind']} | {o['ms']:.3f} | {o['calls']:.0f} |"
                  for o in v["ops"][:top]]
    return "\n".join(lines) + "\n"
