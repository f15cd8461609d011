"""Drop an alternate signal stack whose memory has been freed, so that the next signal does not
crash the process.

OpenVINO's CPU plugin installs an alternate signal stack (``sigaltstack``) for the thread that
loads it and puts the previous one back when it unloads. Two plugin instances alive at once (NNCF's
static quantization makes them) and released in the order they were made leave the first one's
stack installed after its memory is gone. Python runs every signal handler with ``SA_ONSTACK``,
so the next SIGTERM or Ctrl-C then ends the process with a segmentation fault instead of the
handler (``slimkit run`` stopped that way, leaving its lock and scratch folder behind). The runner
calls this after each stage; it is a no-op where there is no such stack.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

log = logging.getLogger(__name__)

_SS_DISABLE = 2  # <bits/sigstack.h>: the same value on every Linux architecture


class _StackT(ctypes.Structure):
    """``stack_t`` of <signal.h> on Linux."""
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def drop_freed_signal_stack() -> bool:
    """Disable this thread's alternate signal stack when no mapping holds it; True if it did."""
    if not sys.platform.startswith("linux"):
        return False
    gc.collect()  # release unreachable backend objects now, so their stacks are put back first
    libc = ctypes.CDLL(None, use_errno=True)
    current = _StackT()
    if libc.sigaltstack(None, ctypes.byref(current)) != 0:
        return False
    if current.ss_flags & _SS_DISABLE or not current.ss_sp:
        return False
    if _is_mapped(current.ss_sp, current.ss_size):
        return False
    libc.sigaltstack(ctypes.byref(_StackT(None, _SS_DISABLE, 0)), None)
    log.debug("dropped a freed alternate signal stack at %#x", current.ss_sp)
    return True


def _is_mapped(start: int, size: int) -> bool:
    """Whether one mapping of this process holds ``[start, start + size)``."""
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            low, high = (int(bound, 16) for bound in line.split(maxsplit=1)[0].split("-"))
            if low <= start and start + size <= high:
                return True
    return False
