"""Every write slimkit makes to a shared place goes through here: written beside the target under
a temporary name, then swapped in with one rename, so a reader (or an interrupted run) never sees
half a file or half a folder."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """``.NAME.tmp-PID`` beside ``path``: hidden, per process, and removed by
    ``artifacts.remove_stale_temporaries`` if a run dies before the swap."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


@contextmanager
def replacing_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.
    The temporary keeps the suffix, for writers that choose a format by it (matplotlib)."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with replacing_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def copy_file(source: Path, path: Path) -> None:
    with replacing_file(path) as tmp:
        shutil.copyfile(source, tmp)


def replace_folder(folder: Path, fill: Callable[[Path], Any]) -> Any:
    """Build a folder in a temporary sibling with ``fill(tmp)``, then swap it in: the old one (if
    any) is renamed away first and removed after. Returns what ``fill`` returned."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        result = fill(tmp)
        old = temporary_sibling(folder, "old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
