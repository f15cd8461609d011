"""The machine a report was measured on: CPU model and the flags that decide INT8 / BF16 speed,
cores, memory, accelerators and library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# the instruction sets that change which INT8 / BF16 kernels the backends pick
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
             "avx_vnni")


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if flags and model:
                break
    return model, [f for f in CPU_FLAGS if f in flags]


def cuda_devices() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def machine_info() -> dict[str, Any]:
    import psutil

    from slimkit.artifacts import library_versions

    model, flags = cpu_model_and_flags()
    return {"cpu": model, "cpu_flags": flags, "physical_cores": psutil.cpu_count(logical=False),
            "logical_cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cuda": cuda_devices(), "os": platform.platform(), "versions": library_versions()}


def describe(machine: dict[str, Any]) -> str:
    """One line for a report's header."""
    flags = ", ".join(machine.get("cpu_flags") or []) or "none of " + ", ".join(CPU_FLAGS)
    gpu = "; ".join(machine.get("cuda") or []) or "no CUDA device"
    versions = machine.get("versions") or {}
    libs = ", ".join(f"{k} {versions[k]}" for k in ("torch", "onnxruntime", "openvino", "transformers")
                     if k in versions)
    return (f"{machine.get('cpu')} ({machine.get('physical_cores')} physical / "
            f"{machine.get('logical_cores')} logical cores, {machine.get('memory_gb')} GiB; "
            f"flags: {flags}); {gpu}; {libs}")
