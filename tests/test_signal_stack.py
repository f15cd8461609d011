"""A signal after OpenVINO work must reach Python's handler, not crash the process.

OpenVINO's CPU plugin puts back a freed alternate signal stack when two of its instances are
released in the order they were made (slimkit.signal_stack says why). Each case runs in its own
process: the unmended one dies of SIGSEGV, which would take a pytest worker with it."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

pytest.importorskip("openvino")

TWO_PLUGINS_THEN_SIGTERM = """
import gc, os, signal, sys, time

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from slimkit.signal_stack import drop_freed_signal_stack


def compiled(core):
    x = ops.parameter([1, 4], np.float32)
    return core.compile_model(ov.Model([ops.relu(x)], [x]), "CPU")


first = ov.Core(); first_model = compiled(first)
second = ov.Core(); second_model = compiled(second)
del first_model, first; gc.collect()
del second_model, second; gc.collect()
dropped = drop_freed_signal_stack() if sys.argv[1] == "mended" else None


class Handled(Exception):
    pass


def handler(signum, frame):
    raise Handled


signal.signal(signal.SIGTERM, handler)
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
except Handled:
    print(f"handled, dropped={dropped}")
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TWO_PLUGINS_THEN_SIGTERM, mode],
                          capture_output=True, text=True, timeout=120)


def test_sigterm_after_two_openvino_plugins_reaches_the_handler():
    mended = _run("mended")
    assert mended.returncode == 0, mended.stderr[-2000:]
    assert mended.stdout.strip() == "handled, dropped=True"


def test_without_the_mend_the_same_signal_crashes():
    """The reason for the mend, with the pinned OpenVINO: if this starts to pass a handler call,
    the plugin was fixed and drop_freed_signal_stack can go."""
    assert _run("unmended").returncode == -signal.SIGSEGV


@pytest.mark.parametrize("faulthandler", ["disable", "enable"])
def test_a_missing_or_live_alternate_stack_is_left_alone(faulthandler):
    """No stack at all, or faulthandler's own (allocated, in use): nothing to drop."""
    script = (f"import faulthandler; faulthandler.{faulthandler}()\n"
              "from slimkit.signal_stack import drop_freed_signal_stack as drop\n"
              "print(drop())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
