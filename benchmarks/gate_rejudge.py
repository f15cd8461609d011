"""The gate study's comparisons judged again with other tolerances, through ``compare`` itself,
from the reports the study kept in OUT-reports/, without benchmarking again:

    python -m benchmarks.gate_rejudge /tmp/gs/gate-study-smoke.json \\
        --tolerances benchmarks/baselines/tolerances.yaml

Every check is redone, quality ones included, exactly as ``slimkit compare`` would with that
file; only the verdict's judging (was it right for the kind planted) is the study's own.
Studies made before the study kept its reports cannot be rejudged: run them again."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.compare import compare, load_tolerances
from benchmarks.gate_study import KINDS, counts, judged
from slimkit.errors import SlimkitError
from slimkit.settings import Tolerances


def rejudge(study: dict[str, Any], reports: Path, tol: Tolerances) -> dict[str, str]:
    """Per kind, false alarms or catches of the study's comparisons under ``tol``."""
    baseline = _read(reports / "baseline.json")
    verdicts = [judged(result["kind"], compare(_read(reports / result["report"]), baseline, tol),
                       study["rows"], study["reference"], None)
                for result in study["results"]]
    return counts(verdicts)


def kept_reports(path: Path, study: dict[str, Any]) -> Path:
    """The folder of the reports ``study`` (read from ``path``) compared."""
    if "reports" not in study:
        raise SlimkitError(f"{path}: this study kept no reports (made before studies kept them); "
                           "run the study again to judge it with other tolerances")
    folder = path.parent / study["reports"]
    if not folder.is_dir():
        raise SlimkitError(f"{path}: its reports folder {folder} is missing (keep OUT-reports/ "
                           "beside OUT.json)")
    return folder


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SlimkitError(f"{path}: a kept report is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    from slimkit.tables import markdown_table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_rejudge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="a gate study's OUT.json")
    parser.add_argument("--tolerances", nargs="+", required=True)
    args = parser.parse_args(argv)
    try:
        if not args.study.is_file():
            raise SlimkitError(f"{args.study}: no such file (give a gate study's OUT.json)")
        study = json.loads(args.study.read_text(encoding="utf-8"))
        reports = kept_reports(args.study, study)
        rows = [[path, *rejudge(study, reports, load_tolerances(path)).values()]
                for path in args.tolerances]
    except SlimkitError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write("\n".join(markdown_table(["tolerances", *KINDS], rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
