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
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from slimkit.tables import markdown_table

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
    from backends.pytorch import count_flops

    model = variant.model
    return None if model is None else count_flops(model, batch, calls)


def profile_variant(variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                    warmup: int, flops: float | None) -> dict[str, Any]:
    """Wall time per call without the profiler, then per-operator time with the backend's own."""
    from backends.registry import backends

    backend = backends().get(variant.backend)
    if not backend.profiles:
        raise_unsupported(variant.backend)
    runtime = backend.open(variant, "cpu", threads)
    for _ in range(warmup):
        runtime.logits(batch)
    wall = _wall_ms(runtime.logits, batch, calls)
    ops, counted = backend.profile(variant, batch, threads=threads, calls=calls, warmup=warmup)
    return summarize(variant.name, variant.backend, wall, ops, calls, flops or counted)


def raise_unsupported(backend: str) -> None:
    from backends.registry import backends
    from slimkit.errors import RecipeError

    able = [backend.name for backend in backends() if backend.profiles]
    raise RecipeError(f"variants made for {backend} cannot be profiled", file="slimkit profile",
                      field="--variants", fix=f"name {', '.join(able)} variants")


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
        manifest = read_manifest(run_dir / name)
        if manifest is None:
            return None
        if manifest.backend == "pytorch" and manifest.stage != "quantize":
            return run_dir / name
        name = manifest.parent
    return None


def profile_run(run_dir: Path, names: list[str], *, batch_size: int, seq_len: int, threads: int,
                calls: int, warmup: int) -> dict[str, Any]:
    """Profile each named variant of a finished run on its own backend, on real eval rows."""
    import torch

    from benchmarks.latency import fixed_batch
    from benchmarks.machine import machine_info
    from benchmarks.targets import variant_folders
    from slimkit.artifacts import load_variant
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
        variant = load_variant(folders[name])
        config = getattr(variant, "config", None) or variant.model.config
        text = variant.manifest.recipe.text
        if text not in eval_rows:  # variants of one run share their recipe's rows
            eval_rows[text] = load_splits(recipe_of(variant.manifest).data).eval
        batch = fixed_batch(variant.tokenizer, eval_rows[text], batch_size, seq_len)
        source = flops_source(run_dir, name)
        if source not in flops_of and source != folders[name]:  # a PyTorch variant counts its own
            flops_of[source] = model_flops(load_variant(source), batch) if source else None
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
    from backends.registry import backends
    from slimkit.artifacts import read_manifest
    from slimkit.errors import RecipeError

    backend = read_manifest(folder).backend
    if not backends().get(backend).profiles:
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
             *([f"Reproduce: `{result['command']}`."] if result.get("command") else []), ""]
    lines += markdown_table(["variant", "backend", "wall ms", "in operators ms", "overhead ms",
                             "GFLOP/call", "GFLOP/s", *KIND_NAMES],
                            [_summary_cells(v) for v in result["variants"]])
    for v in result["variants"]:
        lines += ["", f"## {v['variant']} ({v['backend']}): top operators", ""]
        lines += markdown_table(["operator", "kind", "ms per call", "runs per call"],
                                [[o["op"], o["kind"], f"{o['ms']:.3f}", f"{o['calls']:.0f}"]
                                 for o in v["ops"][:top]])
    return "\n".join(lines) + "\n"


def _summary_cells(v: dict[str, Any]) -> list[str]:
    share = {kind: v["kinds"].get(kind, 0.0) / max(v["in_ops_ms"], 1e-9) for kind in KIND_NAMES}
    return [v["variant"], v["backend"], f"{v['wall_ms']:.2f}", f"{v['in_ops_ms']:.2f}",
            f"{v['overhead_ms']:.2f}", f"{v['flops'] / 1e9:.3f}" if v["flops"] else "-",
            f"{v['gflops_per_s']:.0f}" if v["gflops_per_s"] else "-",
            *(f"{share[kind]:.0%}" for kind in KIND_NAMES)]
