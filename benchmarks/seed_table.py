"""One recipe run with several seeds, one table: each variant's metric per seed, its mean and range,
and its change against a control variant paired seed by seed (the same seed shares the data order
and the head's initial weights, so the paired change is what the strategy did):

    for s in 42 43 44; do
      slimkit run recipes/studies/mrpc-teacher-sweep.yaml --seed $s --out runs/seed-$s
    done
    python -m benchmarks.seed_table runs/seed-42 runs/seed-43 runs/seed-44 \\
        --recipe mrpc-teacher-sweep --control teacher --metric f1 --out benchmarks/results/x

Writes OUT.json and OUT.md; prints the markdown."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from slimkit.artifacts import read_manifest
from slimkit.atomic import write_json, write_text
from slimkit.errors import RecipeError
from slimkit.tables import markdown_table


def collect(run_dirs: list[Path], metric: str) -> dict[str, dict[int, float]]:
    """{variant: {seed: metric}} from each run folder's variant manifests."""
    scores: dict[str, dict[int, float]] = {}
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise RecipeError("no such run folder", file=str(run_dir),
                              fix="run the recipe with --out there first")
        for folder in sorted(p for p in run_dir.iterdir() if (p / "manifest.json").is_file()):
            manifest = read_manifest(folder)
            seed = (manifest.recipe.resolved or {}).get("seed")
            metrics = {k: v for k, v in (manifest.metrics or {}).items()  # scores, not counts
                       if isinstance(v, float)}
            if seed is None:
                raise RecipeError("its manifest does not record the seed", file=str(folder),
                                  fix="rerun the recipe with this slimkit")
            if metric not in metrics:
                raise RecipeError(f"no metric '{metric}'", file=str(folder), field="--metric",
                                  fix=f"use one of: {', '.join(sorted(metrics))}")
            scores.setdefault(manifest.variant, {})[seed] = float(metrics[metric])
    return scores


def summarize(scores: dict[str, dict[int, float]], control: str) -> list[dict[str, Any]]:
    """Per variant: its seeds' values, mean, min and max, and the paired change against the
    control over the seeds both have (mean, min, max, and how many seeds it was better)."""
    if control not in scores:
        raise RecipeError(f"no variant '{control}' in these runs", field="--control",
                          fix=f"use one of: {', '.join(sorted(scores))}")
    rows = []
    for variant, by_seed in sorted(scores.items(), key=lambda item: (item[0] != control, item[0])):
        values = list(by_seed.values())
        shared = sorted(set(by_seed) & set(scores[control]))
        changes = [by_seed[s] - scores[control][s] for s in shared]
        rows.append({"variant": variant, "seeds": by_seed, "mean": statistics.mean(values),
                     "min": min(values), "max": max(values),
                     "change": statistics.mean(changes) if changes else None,
                     "change_min": min(changes, default=None),
                     "change_max": max(changes, default=None),
                     "better": sum(c > 0 for c in changes), "paired": len(changes)})
    return rows


def markdown(rows: list[dict[str, Any]], metric: str, control: str) -> str:
    def pt(value: float) -> str:
        return f"{100 * value:.2f}"

    def change(row: dict[str, Any]) -> str:
        if row["variant"] == control or row["change"] is None:
            return "control" if row["variant"] == control else "no shared seed"
        return (f"{100 * row['change']:+.2f} [{100 * row['change_min']:+.2f}, "
                f"{100 * row['change_max']:+.2f}], better in {row['better']}/{row['paired']}")

    seeds = sorted({s for r in rows for s in r["seeds"]})
    head = ["variant", *(f"seed {s}" for s in seeds), f"mean {metric}", "range",
            f"change vs {control} (mean [min, max])"]
    lines = markdown_table(head, ([r["variant"], *(pt(r["seeds"][s]) if s in r["seeds"] else "-"
                                                   for s in seeds), f"**{pt(r['mean'])}**",
                                   f"{pt(r['min'])}-{pt(r['max'])}", change(r)] for r in rows))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="each seed's --out folder")
    parser.add_argument("--recipe", required=True, help="the recipe's name (its folder in each)")
    parser.add_argument("--control", default="teacher", help="the variant the others change")
    parser.add_argument("--metric", default="f1")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parser.parse_args(argv)
    try:
        rows = summarize(collect([r / args.recipe for r in args.runs], args.metric), args.control)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(rows, args.metric, args.control)
    if args.out:
        payload = {"recipe": args.recipe, "metric": args.metric, "control": args.control,
                   "runs": [str(r) for r in args.runs], "variants": rows}
        write_json(args.out.with_suffix(".json"), payload)
        write_text(args.out.with_suffix(".md"), text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
