"""Reading a user's YAML file (a recipe, a tolerances file) with bounds, so that hostile input fails
in one line within a second instead of a traceback or minutes of CPU: not UTF-8, too large,
nested too deep, or aliases that expand past a small bound ("billion laughs")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from slimkit.errors import RecipeError

MAX_BYTES = 256 * 1024  # the flagship recipe is 5 KB
MAX_DEPTH = 32  # a recipe nests 4 levels deep
MAX_NODES = 20_000  # scalars, lists and mappings once every alias is expanded


class _Unsafe(Exception):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def read_bounded_yaml(path: Path, what: str) -> Any:
    """The parsed YAML of ``path``; every way it can fail is one RecipeError naming the file."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RecipeError(f"{size:,} bytes is over the {MAX_BYTES:,}-byte limit for a {what} file",
                          file=str(path), fix=f"check that this is the {what} you meant")
    data = path.read_bytes()[:MAX_BYTES + 1]  # the file may have grown since stat
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RecipeError(f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line})",
                          file=str(path), fix="re-save the file as UTF-8") from None
    try:
        return _load(text)
    except _Unsafe as bad:
        raise RecipeError(bad.problem, file=str(path), fix=bad.fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RecipeError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=str(path),
                          field=f"line {mark.line + 1}" if mark else None,
                          fix="fix the YAML syntax") from None


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose composer (recursive, one call per nesting level) stops at
    MAX_DEPTH instead of recursing until Python's own limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _too_deep()
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _load(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, 1, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _too_deep() -> _Unsafe:
    return _Unsafe(f"nested more than {MAX_DEPTH} levels deep", "a recipe nests a few levels: "
                   "check the brackets and indentation")


def _measure(node: yaml.Node, depth: int, done: dict[int, tuple[int, int]],
             open_nodes: set[int]) -> tuple[int, int]:
    """(nodes, height) of ``node`` with every alias expanded; raises past the bounds. Aliases share
    node objects, so each distinct node is measured once: the cost is the file's size, not the
    expansion's."""
    key = id(node)
    if key in open_nodes:
        raise _Unsafe("an alias refers to a node that contains it", "remove the recursive alias")
    if key not in done:
        open_nodes.add(key)
        _unique_keys(node)
        children = _children(node)
        if children and depth >= MAX_DEPTH:
            raise _too_deep()
        sizes = [_measure(child, depth + 1, done, open_nodes) for child in children]
        open_nodes.discard(key)
        done[key] = (1 + sum(n for n, _ in sizes), 1 + max((h for _, h in sizes), default=0))
    nodes, height = done[key]
    if depth + height - 1 > MAX_DEPTH:
        raise _too_deep()
    if nodes > MAX_NODES:
        raise _Unsafe(f"aliases expand to more than {MAX_NODES:,} values",
                      "write the values out, or use fewer nested aliases")
    return nodes, height


def _unique_keys(node: yaml.Node) -> None:
    """PyYAML keeps the last of two equal keys without a word: a recipe with ``epochs`` twice
    would run with one of them silently dropped."""
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise _Unsafe(f"'{key.value}' is given twice (lines {seen[key.value]} and {line})",
                          "keep one of them")
        seen[key.value] = line


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
