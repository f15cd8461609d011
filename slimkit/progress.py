"""Progress that suits where the output goes: a tqdm bar on a terminal; in a log file (stderr not a
terminal) one log line at most every ``LOG_EVERY_S`` seconds instead of a carriage-return update per
step; nothing at all under ``--quiet`` (the ``slimkit`` logger above INFO)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger("slimkit.progress")
LOG_EVERY_S = 30.0


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str,
             unit: str = "it", leave: bool = True, enabled: bool = True) -> Any:
    """A tqdm-like object (iterate it, or call ``update`` / ``set_postfix`` / ``close``)."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    shown = enabled and logging.getLogger("slimkit").isEnabledFor(logging.INFO)
    if shown and sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, shown=shown)


class LogProgress:
    """The same calls as tqdm; writes ``desc: 120/800 step (15 %), loss=0.41`` to the log at most
    every ``every`` seconds, and once at the end when anything was written before."""

    def __init__(self, iterable: Iterable[Any] | None, *, total: int | None, desc: str,
                 unit: str, shown: bool, every: float = LOG_EVERY_S) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.shown, self.every, self.count, self.postfix = shown, every, 0, ""
        self.last = time.monotonic()
        self.reported = 0  # the count last written to the log

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.shown and time.monotonic() - self.last >= self.every:
            self._report()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.shown and self.reported and self.count != self.reported:
            self._report()
        self.shown = False

    def _report(self) -> None:
        share = f" ({100 * self.count / self.total:.0f} %)" if self.total else ""
        of = f"/{self.total}" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        log.info("%s: %d%s %s%s%s", self.desc, self.count, of, self.unit, share, extra)
        self.last, self.reported = time.monotonic(), self.count
