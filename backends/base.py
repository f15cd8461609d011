"""The interface every backend file implements. A backend knows one inference library; it never
imports another backend, a stage or the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from slimkit.manifest import Manifest
from slimkit.runtime import Runtime

Ops = dict[str, tuple[float, int]]  # operator -> (milliseconds over all profiled calls, runs)


class Backend:
    """One inference backend. Subclasses set the class attributes and implement ``open``."""

    name: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    quantize_modes: ClassVar[frozenset[str]] = frozenset()  # ``kind: quantize`` modes for its variants
    # why it cannot run on a device it does not list (default: "<name> runs on CPU only")
    other_devices: ClassVar[dict[str, str]] = {}
    reads_onnx_exports: ClassVar[bool] = False  # runs a plain PyTorch variant's ONNX export
    reuse_runtime: ClassVar[bool] = False  # opening is costly: keep the runtime on the variant
    profiles: ClassVar[bool] = False  # ``profile`` gives per-operator times

    def runs(self, manifest: Manifest) -> bool:
        """Whether it can execute this variant's files (its own variants always)."""
        return manifest.backend == self.name or self.needs_onnx_export(manifest)

    def needs_onnx_export(self, manifest: Manifest) -> bool:
        """Whether it runs this variant through an ONNX export the benchmark makes (a plain
        PyTorch variant; a PyTorch INT8 module has an artifact and runs only in PyTorch)."""
        return self.reads_onnx_exports and manifest.backend == "pytorch" and not manifest.artifact

    def device_problem(self, manifest: Manifest, device: str) -> str | None:
        """Why it cannot run this variant on this device, or None."""
        if device in self.devices:
            return None
        return self.other_devices.get(
            device, f"{self.name} runs on {' / '.join(d.upper() for d in self.devices)} only")

    def precision(self, manifest: Manifest) -> str:
        """What the numbers are computed in when this backend runs the variant."""
        return manifest.precision

    def open(self, variant: Any, device: str = "cpu", threads: int | None = None,
             graph: Path | None = None) -> Runtime:
        """A runtime for the variant; ``graph`` is an ONNX export standing in for a PyTorch one."""
        raise NotImplementedError

    def profile(self, variant: Any, batch: dict[str, np.ndarray], *, threads: int, calls: int,
                warmup: int) -> tuple[Ops, float | None]:
        """Per-operator times of ``calls`` calls from the library's own profiler, and the FLOPs
        of one call when the profiler counts them."""
        raise NotImplementedError(f"{self.name} has no profiler hook")
