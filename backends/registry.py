"""Every backend slimkit ships, listed in ``backends()`` and nowhere else. Adding one is a file in
this folder (a ``Backend`` subclass) and one line there."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backends.base import Backend
from slimkit.errors import RecipeError, SlimkitError
from slimkit.manifest import Manifest
from slimkit.runtime import Runtime


class Backends:
    """An explicit map from a backend's name to its ``Backend``, in the order listed."""

    def __init__(self, listed: list[Backend]) -> None:
        self._by_name: dict[str, Backend] = {}
        for backend in listed:
            if backend.name in self._by_name:
                raise ValueError(f"backend {backend.name!r} is registered twice")
            self._by_name[backend.name] = backend

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str) -> Backend:
        if name not in self._by_name:
            raise SlimkitError(f"no backend named {name!r} (slimkit has {', '.join(self.names())})")
        return self._by_name[name]

    def runnable(self, manifest: Manifest) -> list[str]:
        """Backends that can execute this variant's files, its own first."""
        own = self.get(manifest.backend).name
        return [own] + [b.name for b in self if b.name != own and b.runs(manifest)]

    def check(self, names: list[str], field: str, file: str | None = None) -> None:
        """Fail in one line on a name that is not a backend (recipe or flag validation)."""
        for i, name in enumerate(names):
            if name not in self._by_name:
                close = difflib.get_close_matches(str(name), self.names(), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise RecipeError(f"unknown backend {name!r}", file=file,
                                  field=f"{field}[{i}]" if len(names) > 1 else field,
                                  fix=f"{hint}known backends: {', '.join(self.names())}")


def backends() -> Backends:
    from backends.inc import Inc
    from backends.onnxruntime import OnnxRuntimeBackend
    from backends.openvino import OpenVino
    from backends.pytorch import PyTorch
    from backends.tensorrt import TensorRt

    return Backends([PyTorch(), OnnxRuntimeBackend(), OpenVino(), TensorRt(), Inc()])


def open_runtime(variant: Any, backend: str, device: str = "cpu", threads: int | None = None,
                 graph: Path | None = None) -> Runtime:
    """A variant on a given backend; ``graph`` is an ONNX file standing in for a PyTorch variant
    on a file backend (the benchmark exports one)."""
    return backends().get(backend).open(variant, device, threads, graph)


def runtime_for(variant: Any, device: str = "cpu") -> Runtime:
    """The runtime that executes a variant on the backend it was made for."""
    if variant.runtime is not None:  # a runtime the stage (or an earlier call) already opened
        return variant.runtime
    backend = backends().get(variant.backend)
    runtime = backend.open(variant, device)
    if backend.reuse_runtime:
        variant.runtime = runtime
    return runtime
