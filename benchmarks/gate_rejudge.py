"""The gate study's comparisons judged again with other tolerances, from what the study kept
(each comparison's latency moves and its quality verdicts), without benchmarking again:

    python -m benchmarks.gate_rejudge benchmarks/results/gate-study-sst2.json \\
        --tolerances benchmarks/baselines/tolerances.yaml

Latency checks are recomputed from the kept rises: a row's geometric mean (``latency``), each
shape (``latency_shape``), the reference's calibrated time (``latency_calibrated``) and the
median row's ratio change (``reference_shift``, which a study older than that check did not run
but whose inputs, the rows' geometric means, it kept). Accuracy and F1 verdicts are kept as
measured: they do not depend on the latency limits, and are not rejudged when a tolerances file
changes accuracy, f1 or significance."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.compare import load_tolerances
from benchmarks.gate_study import KINDS, counts
from slimkit.settings import Tolerances

SHAPE = re.compile(r"^b\d+/s\S+ p50_ratio$")


def failures(result: dict[str, Any], tol: Tolerances, reference: str) -> list[tuple[str, str]]:
    """(row, check) of every check the tolerances fail in one kept comparison."""
    out, geomeans = [], []
    for key, rise in result["moves"].items():
        row, metric = key.split(": ", 1)
        if "geomean" in metric:
            if row != reference:
                geomeans.append(1 + rise)
            if tol.latency is not None and rise > tol.latency:
                out.append((row, "latency"))
        elif SHAPE.match(metric) and tol.latency_shape is not None and rise > tol.latency_shape:
            out.append((row, "latency_shape"))
        elif "p50_calibrated" in metric and tol.latency_calibrated is not None \
                and rise > tol.latency_calibrated:
            out.append((row, "latency_calibrated"))
    if tol.reference_shift is not None and geomeans \
            and 1 - statistics.median(geomeans) > tol.reference_shift:
        out.append((reference, "reference_shift"))
    kept = {tuple(f.split(": ")[:2]) for f in result["failed"]}
    out += [(row, metric) for row, metric in kept if metric in ("accuracy", "f1")]
    return out


def rejudge(study: dict[str, Any], tol: Tolerances) -> dict[str, str]:
    reference = _reference(study)
    verdicts = []
    for result in study["results"]:
        failed = failures(result, tol, reference)
        kind, rows = result["kind"], study["rows"]
        if kind == "unchanged":
            right = not failed
        elif kind == "slower rows":
            right = all(any(r == row and m.startswith("latency") for r, m in failed) for row in rows)
        elif kind == "slower reference":
            right = any(r == reference for r, _ in failed)
        else:
            right = all((row, "accuracy") in failed for row in rows)
        verdicts.append({"kind": kind, "right": right})
    out = counts(verdicts)
    quality = ("accuracy", "f1", "significance")
    if any(study["tolerances"].get(k) != getattr(tol, k) for k in quality):
        # the kept quality verdicts were judged with the study's own limits
        out["accuracy -2 pt"] = "not rejudged (its quality limits differ from the study's)"
    return out


def _reference(study: dict[str, Any]) -> str:
    """The reference row's id: the row of every comparison's calibrated reference check, else
    the one geometric mean that never moves (a ratio to itself)."""
    for result in study["results"]:
        for key in result["moves"]:
            if "reference p50_calibrated" in key:
                return key.split(": ")[0]
    return next(key.split(": ")[0] for key, rise in study["results"][0]["moves"].items()
                if "geomean" in key and all(r["moves"].get(key) == 0 for r in study["results"]))


def main(argv: list[str] | None = None) -> int:
    from slimkit.tables import markdown_table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_rejudge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="a gate study's OUT.json")
    parser.add_argument("--tolerances", nargs="+", required=True)
    args = parser.parse_args(argv)
    if not args.study.is_file():
        parser.error(f"{args.study}: no such file (give a gate study's OUT.json)")
    study = json.loads(args.study.read_text(encoding="utf-8"))
    rows = [[path, *rejudge(study, load_tolerances(path)).values()] for path in args.tolerances]
    sys.stdout.write("\n".join(markdown_table(["tolerances", *KINDS], rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
