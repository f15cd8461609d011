"""This process's place in a multi-process launch (``torch.distributed.run``, ``accelerate
launch``): which one is the main process, and how many threads each gets."""

from __future__ import annotations

import os
from typing import Any


def launch_state() -> Any:
    """This process's place in a multi-process launch (one process without one). Made first with
    ``cpu=True`` when there is no CUDA, so that ``torch.distributed.run`` on CPUs is seen as gloo
    processes (accelerate's state is shared, and fixed by whoever creates it first)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def is_main_launch_process() -> bool:
    """False in the other processes of ``accelerate launch`` / ``torch.distributed.run``: only
    the main one holds the folder's lock (without importing torch.distributed to ask)."""
    return os.environ.get("RANK", "0") == "0"


def physical_cores() -> int:
    """The default thread count of one process alone on this machine (a runtime, a benchmark)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def set_threads(threads: int | None) -> None:
    """The recipe's threads, else OMP_NUM_THREADS where the user (or a parallel test runner) set
    it, else the physical cores shared by this machine's launched processes."""
    import torch

    told = os.environ.get("OMP_NUM_THREADS", "")
    here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    share = max(1, physical_cores() // here)
    torch.set_num_threads(threads or (int(told) if told.isdigit() and int(told) > 0 else share))
