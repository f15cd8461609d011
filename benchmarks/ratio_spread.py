"""How much each latency figure moves between benches of the same, unchanged code: per row and
shape, the spread over several reports of the ratio of the p50s (``p50_ratio``) and of the median
of the per-round ratios (``round_ratio_p50``, what ``slimkit compare`` gates on).

    python -m benchmarks.ratio_spread OUT-reports/unchanged-*.json

The gate can only catch a planted 20 % slow-down with a 15 % limit if the figure it reads moves
well under 5 % by chance: this says which figure does (benchmarks/REPORT.md)."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import load_report
from slimkit.errors import RecipeError
from slimkit.tables import markdown_table

FIGURES = ("p50_ratio", "round_ratio_p50")


def spreads(reports: list[dict[str, Any]]) -> list[list[str]]:
    """One table row per (row, shape, figure) measured in every report: count, mean, coefficient
    of variation, range relative to the mean."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for report in reports:
        for row in report["rows"]:
            if row.get("status") != "ok" or row["id"].split("/")[0] == report["reference"]:
                continue
            for entry in row.get("latency") or []:
                for figure in FIGURES:
                    if entry.get(figure):
                        shape = f"b{entry['batch_size']}/s{entry['seq_len']}"
                        values.setdefault((row["id"], shape, figure), []).append(entry[figure])
    out = []
    for (row_id, shape, figure), found in values.items():
        if len(found) != len(reports) or len(found) < 2:
            continue
        mean = statistics.fmean(found)
        out.append([row_id, shape, figure, str(len(found)), f"{mean:.4f}",
                    f"{statistics.stdev(found) / mean:.1%}",
                    f"{min(found) / mean - 1:+.1%} to {max(found) / mean - 1:+.1%}"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ratio_spread", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path, help="report.json files of one setup")
    args = parser.parse_args(argv)
    try:
        reports = [load_report(path) for path in args.reports]
    except RecipeError as exc:  # one line: which file, what is wrong with it
        sys.stderr.write(f"error: {exc}\n")
        return 2
    rows = spreads(reports)
    if not rows:
        sys.stderr.write("error: no row and shape is timed in every report (need two or more)\n")
        return 2
    sys.stdout.write("\n".join(markdown_table(
        ["row", "shape", "figure", "benches", "mean", "CV", "range"], rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
