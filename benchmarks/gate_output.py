"""``slimkit compare`` for the CI that reads it: one line per failed check (baseline, new value,
limit), and the same checks as markdown, JSON, JUnit XML or GitHub Actions annotations plus a job
summary. The exit code does not depend on the format. And the refusal of a pair of reports that
did not measure the same thing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from benchmarks.compare import Check, table
from slimkit.errors import RecipeError

FORMATS = ("markdown", "json", "junit", "github")
# what two reports must share to be compared: (where in the report, what it is); a different
# reference is refused by compare itself
COMPARABLE = ((("recipe",), "recipe"), (("eval_rows", "sha256"), "eval rows (sha256)"),
              (("settings", "metric"), "metric"), (("settings", "spin_wait"), "spin_wait"),
              (("settings", "threads"), "threads"), (("settings", "eval_batch_size"), "eval_batch_size"))
# what a report that predates a field measured: it is compared as that value
PREDATES = {("settings", "eval_batch_size"): 32}


def refuse_incomparable(new: dict[str, Any], baseline: dict[str, Any]) -> None:
    """One line, exit 2, naming the first field that differs (fields an older report lacks are
    not compared)."""
    for path, what in COMPARABLE:
        was, now = (_at(report, path, PREDATES.get(path, _ABSENT)) for report in (baseline, new))
        if was is not _ABSENT and now is not _ABSENT and was != now:
            raise RecipeError(f"the reports measured different things: {what} is {now!r} in the "
                              f"new report, {was!r} in the baseline",
                              fix="compare reports of the same recipe, eval rows and settings")


_ABSENT = object()  # a field an older report lacks; None is a value (threads: the cores)


def _at(report: dict[str, Any], path: tuple[str, ...], absent: Any = _ABSENT) -> Any:
    value: Any = report
    for key in path:
        value = value.get(key, _ABSENT) if isinstance(value, dict) else _ABSENT
    return absent if value is _ABSENT else value


def explain(check: Check) -> str:
    """The one line that says why a check failed."""
    moved = f"{_num(check.baseline)} -> {_num(check.new)}" if check.new is not None else "missing"
    return f"{check.row}: {check.metric}: {moved} ({check.change}; limit: {check.limit})"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(checks: list[Check], fmt: str, skipped: list[str] | None = None) -> str:
    """The checks in ``fmt``; ``skipped`` names checks an older report could not feed."""
    failed, skipped = [c for c in checks if c.failed], skipped or []
    if fmt == "json":
        return json.dumps({"failed": len(failed), "checks": [vars(c) for c in checks],
                           "explanations": [explain(c) for c in failed], "skipped": skipped},
                          indent=1)
    if fmt == "junit":
        return _junit(checks, skipped)
    text = "\n".join([table(checks), *(f"Skipped: {line}" for line in skipped)])
    lines = [explain(c) for c in failed]
    if fmt == "github":
        _job_summary(text)
        return "\n".join([*(f"::error title=slimkit compare::{line}" for line in lines), text])
    return "\n".join([text, *(["", "Why:", *(f"- {line}" for line in lines)] if lines else [])])


def _junit(checks: list[Check], skipped: list[str]) -> str:
    suite = ElementTree.Element("testsuite", name="slimkit compare",
                                tests=str(len(checks) + len(skipped)),
                                failures=str(sum(c.failed for c in checks)),
                                skipped=str(len(skipped)))
    for check in checks:
        case = ElementTree.SubElement(suite, "testcase", classname=check.row, name=check.metric)
        if check.failed:
            ElementTree.SubElement(case, "failure", message=explain(check))
    for line in skipped:
        case = ElementTree.SubElement(suite, "testcase", classname="*", name=line.split(":")[0])
        ElementTree.SubElement(case, "skipped", message=line)
    return ElementTree.tostring(suite, encoding="unicode")


def _job_summary(markdown: str) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write("## slimkit compare\n\n" + markdown + "\n")
