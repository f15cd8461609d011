"""The gate study: how often ``slimkit compare`` cries wolf and how often it catches a real
regression, measured on this machine with the tolerances a user would ship.

    python -m benchmarks.gate_study runs/smoke-tiny --rows teacher/onnxruntime/cpu \\
        --tolerances benchmarks/baselines/smoke-tiny-tolerances.yaml --backends pytorch \\
        onnxruntime --batch-sizes 1 8 --seq-lens 32 --rounds 30 --per-round 20 \\
        --out benchmarks/results/gate-study-smoke

One baseline bench (``--baseline-repeats`` processes per row: a CI baseline is measured once and
can afford several), then ``--runs`` rounds of three benches each (interleaved, so that drift
falls on every kind alike): unchanged (a failure is a false alarm), the ``--rows`` 20 % slower,
and the reference path (the PyTorch reference, wherever it is timed) 20 % slower; the slow-downs
are planted through ``benchmarks/plant.py``. Each unchanged report is also compared once more
with 2 pt of each row's eval rows flipped from right to wrong (a real drop in a real variant's
predictions). Every comparison is against the baseline. Every report compared, the baseline
first, is kept in OUT-reports/, so that ``benchmarks/gate_rejudge.py`` can judge them again
through ``compare`` with other tolerances."""

from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.compare import Check, compare, load_tolerances
from benchmarks.paired import decode, encode
from benchmarks.plant import ENV
from benchmarks.rows import row_id
from slimkit import atomic
from slimkit.errors import SlimkitError

log = logging.getLogger(__name__)
SLOWER = 0.2
SWEEP = (0.1, 0.15, 0.2, 0.3, 0.5)  # limits of the calibrated-time check the study also tries
QUALITY = ("accuracy", "f1")  # the checks that can catch the planted quality drop
KINDS = ("unchanged", "slower rows", "slower reference", "accuracy -2 pt")


def bench_once(run_dir: Path, cfg: Any, out: Path, plant: dict[str, float]) -> dict[str, Any]:
    from benchmarks.harness import bench

    os.environ[ENV] = ",".join(f"{key}={factor}" for key, factor in plant.items())
    try:
        return bench(run_dir, cfg, out_dir=out, progress=False)
    finally:
        del os.environ[ENV]


def flip(report: dict[str, Any], row_id: str, points: float, seed: int) -> dict[str, Any]:
    """The report with ``points`` of the eval rows ``row_id`` got right now wrong (two labels:
    the other one; more: the next), accuracy and F1 rescored from the new predictions."""
    from slimkit.metrics import classification_metrics

    out = copy.deepcopy(report)
    row = next(r for r in out["rows"] if r["id"] == row_id)
    labels, classes = decode(out["eval_rows"]["labels"]), out["eval_rows"]["classes"]
    predictions = decode(row["predictions"])
    right = np.flatnonzero(predictions == labels)
    chosen = np.random.default_rng(seed).choice(right, round(points / 100 * len(labels)), False)
    predictions[chosen] = (predictions[chosen] + 1) % classes
    row["predictions"] = encode(predictions.tolist())
    scores = classification_metrics(labels.tolist(), predictions.tolist(),
                                     [str(i) for i in range(classes)])
    row["quality"].update(accuracy=scores["accuracy"], f1=scores["f1"])
    return out


def judged(kind: str, checks: list[Check], rows: list[str], reference: str,
           calibrated: float | None) -> dict[str, Any]:
    """Was the comparison's verdict right? Unchanged must pass; a planted regression must fail:
    slower rows on a latency check of each planted row, the slower reference path on a check of
    the reference's own row, the quality drop on an accuracy or F1 check of each planted row.
    ``calibrated`` replaces the limit of the calibrated-time checks (None: as the tolerances
    say), for the study's sweep of it."""
    failed = [c for c in checks if _fails(c, calibrated)]
    if kind == "unchanged":
        right = not failed
    elif kind == "slower rows":
        right = all(any(c.row == r and "p50" in c.metric for c in failed) for r in rows)
    elif kind == "slower reference":
        right = any(c.row == reference for c in failed)
    else:
        # flipping right rows to wrong drops F1 too: the gate's paired F1 test failing the row
        # is as much a catch as McNemar's (the F1 bootstrap is the more sensitive on 200 rows)
        right = all(any(c.row == r and c.metric in QUALITY for c in failed) for r in rows)
    return {"kind": kind, "right": right,
            "failed": [f"{c.row}: {c.metric}: {c.change}" for c in failed]}


def _fails(check: Check, calibrated: float | None) -> bool:
    if calibrated is None or "p50_calibrated" not in check.metric:
        return check.failed
    return check.new is not None and check.new / check.baseline - 1 > calibrated


def moves(checks: list[Check]) -> dict[str, float]:
    """Each latency check's relative rise and each accuracy check's change in points."""
    out = {}
    for c in checks:
        if c.new is None or c.baseline is None:
            continue
        if "p50" in c.metric:
            out[f"{c.row}: {c.metric}"] = round(c.new / c.baseline - 1, 4)
        elif c.metric == "accuracy":
            out[f"{c.row}: {c.metric}"] = round((c.new - c.baseline) * 100, 2)
    return out


class Judge:
    """Every comparison against the baseline, judged with the study's tolerances (and each
    limit of the calibrated-time sweep) and with the other tolerances files."""

    def __init__(self, baseline: dict[str, Any], paths: list[str], rows: list[str],
                 reference: str, keep: Path) -> None:
        self.baseline, self.rows, self.reference, self.keep = baseline, rows, reference, keep
        keep.mkdir(parents=True, exist_ok=True)
        atomic.write_json(keep / "baseline.json", baseline)
        self.tolerances = {path: load_tolerances(path) for path in paths}
        self.tol = self.tolerances[paths[0]]
        self.sweep: dict[str, list[dict[str, Any]]] = {str(x): [] for x in (None, *SWEEP)}
        self.others: dict[str, list[dict[str, Any]]] = {path: [] for path in paths[1:]}

    def record(self, kind: str, new: dict[str, Any]) -> bool:
        checks = compare(new, self.baseline, self.tol)
        name = f"{kind.replace(' ', '-')}-{sum(r['kind'] == kind for r in self.sweep['None'])}.json"
        atomic.write_json(self.keep / name, new)
        for limit, results in self.sweep.items():
            results.append({**judged(kind, checks, self.rows, self.reference,
                                     None if limit == "None" else float(limit)),
                            "moves": moves(checks), "report": name})
        for path, results in self.others.items():
            results.append(judged(kind, compare(new, self.baseline, self.tolerances[path]),
                                  self.rows, self.reference, None))
        return self.sweep["None"][-1]["right"]

    def summary(self) -> dict[str, Any]:
        return {"tolerances": self.tol.model_dump(), "counts": counts(self.sweep["None"]),
                "reference": self.reference,
                "other_tolerances": {path: {"tolerances": self.tolerances[path].model_dump(),
                                            "counts": counts(r)} for path, r in self.others.items()},
                "calibrated_sweep": {limit: counts(r) for limit, r in self.sweep.items()
                                     if limit != "None"},
                "results": self.sweep["None"]}


def bench_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark block every bench of the study runs with."""
    return {"variants": sorted({row.split("/")[0] for row in args.rows}),
            "backends": args.backends, "devices": ["cpu"], "batch_sizes": args.batch_sizes,
            "seq_lens": args.seq_lens, "rounds": args.rounds, "per_round": args.per_round,
            "min_seconds": args.min_seconds, "repeats": args.repeats,
            "spin_wait": args.spin_wait, "threads": args.threads}


def study(args: argparse.Namespace) -> dict[str, Any]:
    from slimkit.recipe import parse_model
    from slimkit.settings import BenchmarkConfig

    settings = bench_settings(args)
    cfg = parse_model(BenchmarkConfig, settings, file="gate_study")
    # the baseline is measured once, so it can afford more processes than every new bench
    repeats = args.repeats if args.baseline_repeats is None else args.baseline_repeats
    base_cfg = parse_model(BenchmarkConfig, {**settings, "repeats": repeats},
                           file="gate_study --baseline-repeats")
    plants = {"unchanged": {}, "slower rows": {r.rsplit("/", 1)[0]: SLOWER for r in args.rows},
              "slower reference": {f"{cfg.reference}/pytorch": SLOWER}}
    scratch = Path(tempfile.mkdtemp(prefix="slimkit-gate-study-"))
    try:
        baseline = bench_once(args.run_dir, base_cfg, scratch / "baseline", {})
    except SlimkitError:  # nothing measured: leave no empty scratch folder behind
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    log.info("reports kept in %s", scratch)
    judge = Judge(baseline, args.tolerances, args.rows, row_id(cfg.reference, "pytorch", "cpu"),
                  scratch / "kept")
    for i in range(args.runs):
        for kind, plant in plants.items():
            new = bench_once(args.run_dir, cfg, scratch / f"{kind}-{i}", plant)
            log.info("run %d/%d %s: %s", i + 1, args.runs, kind,
                     "right" if judge.record(kind, new) else "WRONG")
            if kind == "unchanged":
                for n, row in enumerate(args.rows):
                    new = flip(new, row, 2.0, seed=100 * i + n)
                judge.record("accuracy -2 pt", new)
    # published only when every bench is done: an interrupted study leaves no OUT-reports/
    published = Path(f"{args.out}-reports")
    atomic.replace_folder(published, lambda tmp: shutil.copytree(judge.keep, tmp, dirs_exist_ok=True))
    return {"command": " ".join(["python -m benchmarks.gate_study", *sys.argv[1:]]),
            "rows": args.rows, "runs": args.runs, "eval_rows": baseline["eval_rows"]["rows"],
            "machine": baseline["machine"]["cpu"], **judge.summary(), "reports": published.name}


def counts(results: list[dict[str, Any]]) -> dict[str, str]:
    """Per kind: false alarms (unchanged) or catches (planted) out of the comparisons."""
    out = {}
    for kind in KINDS:
        these = [r for r in results if r["kind"] == kind]
        wrong = sum(not r["right"] for r in these)
        out[kind] = (f"{wrong}/{len(these)} false alarms" if kind == "unchanged"
                     else f"{len(these) - wrong}/{len(these)} caught")
    return out


def markdown(result: dict[str, Any]) -> str:
    from slimkit.tables import markdown_table

    rows = [[kind, result["counts"][kind], "; ".join(sorted({f for r in result["results"]
                                                             if r["kind"] == kind and not r["right"]
                                                             for f in r["failed"]}))[:300] or "-"]
            for kind in KINDS]
    sweep = [[limit, *(counts[kind] for kind in KINDS)]
             for limit, counts in result["calibrated_sweep"].items()]
    return "\n".join(["# Gate study", "", f"Reproduce: `{result['command']}`", "",
                      f"Rows: {', '.join(result['rows'])}; {result['eval_rows']} eval rows; "
                      f"{result['machine']}. Tolerances: {_limits(result['tolerances'])}.", "",
                      *markdown_table(["kind", "result", "checks that failed when wrong"], rows),
                      "", "The same comparisons with other limits on the calibrated time "
                      "(`latency_calibrated`), the other checks as above:", "",
                      *markdown_table(["latency_calibrated", *KINDS], sweep), "",
                      *_others(result.get("other_tolerances") or {})])


def _others(others: dict[str, Any]) -> list[str]:
    from slimkit.tables import markdown_table

    if not others:
        return []
    rows = [[f"`{path}` ({_limits(o['tolerances'])})", *(o["counts"][k] for k in KINDS)]
            for path, o in others.items()]
    return ["The same comparisons judged with other tolerances:", "",
            *markdown_table(["tolerances", *KINDS], rows), ""]


def _limits(tolerances: dict[str, Any]) -> str:
    """The limits the study's comparisons can trip (serving, memory and size are not measured)."""
    keys = ("accuracy", "f1", "significance", "latency", "latency_shape", "latency_calibrated")
    return ", ".join(f"{k} {tolerances[k]}" for k in keys if tolerances.get(k) is not None)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--rows", nargs="+", required=True, help="variant/backend/cpu ids")
    parser.add_argument("--tolerances", nargs="+", required=True,
                        help="the first is the study's; the others judge the same reports too")
    parser.add_argument("--backends", nargs="+", required=True)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1])
    parser.add_argument("--seq-lens", nargs="+", type=int, default=[64])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.0,
                        help="more rounds until a shape has taken this long (benchmark.min_seconds)"
                             ": the fast shapes get more rounds for little time")
    parser.add_argument("--repeats", type=int, default=1,
                        help="each bench measures every row in this many processes (medians)")
    parser.add_argument("--baseline-repeats", type=int,
                        help="processes per row for the baseline bench (default: --repeats)")
    parser.add_argument("--spin-wait", choices=("true", "false"), default="true",
                        help="false: runtime threads sleep between calls (benchmark.spin_wait)")
    parser.add_argument("--threads", type=int,
                        help="intra-op threads of every runtime (benchmark.threads; default: cores)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", required=True,
                        help="writes OUT.json, OUT.md and the compared reports in OUT-reports/")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        result = study(args)
    except SlimkitError as exc:  # a bad run folder, row or tolerances file: one line
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the gate study writes OUT.json, OUT.md and OUT-reports/ "
                         "only when it finishes\n")
        return 130
    atomic.write_json(Path(f"{args.out}.json"), result)
    atomic.write_text(Path(f"{args.out}.md"), markdown(result))
    sys.stdout.write(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
