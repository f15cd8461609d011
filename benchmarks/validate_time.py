"""How long ``slimkit validate`` takes, start-up included: the "under a second" promise for a bad
recipe, measured here (many runs, median and worst) rather than asserted inside a timed unit test
on a busy machine.

    python -m benchmarks.validate_time            # every shipped recipe plus a broken one, 7 runs each
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from slimkit.tables import markdown_table

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 1.0


def seconds_to_validate(recipe: Path) -> tuple[float, int]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "slimkit", "validate", str(recipe)], cwd=REPO,
                         capture_output=True, text=True)
    return time.perf_counter() - started, out.returncode


def broken_copy(folder: Path) -> Path:
    """smoke-tiny with a misspelt stage key: the one-line exit-2 path."""
    text = (REPO / "recipes" / "smoke-tiny.yaml").read_text(encoding="utf-8")
    path = folder / "broken.yaml"
    path.write_text(text.replace("epochs:", "epocs:", 1), encoding="utf-8")
    return path


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=_positive, default=7, help="timed runs per recipe")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        recipes = sorted((REPO / "recipes").glob("*.yaml")) + [broken_copy(Path(tmp))]
        worst_median, rows = 0.0, []
        for recipe in recipes:
            seconds_to_validate(recipe)  # warm the file cache
            times, codes = zip(*(seconds_to_validate(recipe) for _ in range(args.runs)), strict=True)
            median = statistics.median(times)
            worst_median = max(worst_median, median)
            rows.append([recipe.name, codes[0], f"{median:.2f}", f"{max(times):.2f}"])
    print("\n".join(markdown_table(["recipe", "exit", "median s", "max s"], rows)))
    print(f"\nslowest median {worst_median:.2f} s against the {BUDGET_S:.0f} s budget")
    return 0 if worst_median <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
