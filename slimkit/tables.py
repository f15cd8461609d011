"""Markdown tables, written one way everywhere (reports, profiles, the regression gate)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """GitHub-flavoured table lines, unpadded (diffs stay small); a ``|`` inside a cell would end
    the cell, so it is written as ``/``."""
    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"

    return [line(head), "|" + "---|" * len(head), *(line(r) for r in rows)]
