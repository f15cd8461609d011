"""The serving study behind the README's "Serving" table, measured in one run on this machine:

    python -m serving.study runs/sst2-minilm --data data/sst2/dev.tsv \\
        --pick best --teacher teacher --out benchmarks/results/serving-sst2

Three real ``slimkit serve`` subprocesses on free loopback ports, up at once: the pick with
dynamic batching, the pick with batching off, the teacher with batching. Each round load-tests
each of them in turn (16 clients replaying the texts; the pick also at concurrency 1), so that
the machine's drift falls on all three alike; the verdicts are medians over the rounds of the
ratios measured within a round. The pick's predict function is then called in this process on
the same texts, one per call: the serving overhead (HTTP, JSON, queue) is the difference."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from serving.config import LoadtestConfig
from serving.loadtest import loadtest, read_texts
from serving.process import start_server

BATCHING, NO_BATCHING = ["--max-batch-size", "16", "--max-wait-ms", "5"], ["--max-batch-size", "1"]
ON, OFF, TEACHER, SINGLE = ("pick, batching, 16 clients", "pick, batching off, 16 clients",
                            "teacher, batching, 16 clients", "pick, batching, 1 client")


@contextmanager
def server(folder: Path, flags: list[str]):
    process, url = start_server(folder, flags)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=120)


class InProcess:
    """The pick's predict function called in this process, one text per call, the texts in
    load-test order: what the served p50 at concurrency 1 is compared with."""

    def __init__(self, folder: Path, cfg: LoadtestConfig) -> None:
        from serving.model import open_served

        self.served, self.bodies = open_served(folder, threads=None), read_texts(cfg)
        for body in self.bodies[:16]:
            self.served.predict([body["text"]], None, 1)

    def p50_ms(self, calls: int) -> float:
        seconds = []
        for i in range(calls):
            body = self.bodies[i % len(self.bodies)]
            pair = [body["text_pair"]] if "text_pair" in body else None
            started = time.perf_counter()
            self.served.predict([body["text"]], pair, 1)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds) * 1e3


def measure(run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    load = LoadtestConfig(data=args.data, text=args.text, text_pair=args.text_pair,
                          label=args.label, concurrency=16, requests=args.requests)
    single = load.model_copy(update={"concurrency": 1, "requests": args.requests // 2})
    pick, teacher = run_dir / args.pick, run_dir / args.teacher
    rounds: list[dict[str, Any]] = []
    with ExitStack() as servers:
        urls = {ON: servers.enter_context(server(pick, BATCHING)),
                OFF: servers.enter_context(server(pick, NO_BATCHING)),
                TEACHER: servers.enter_context(server(teacher, BATCHING))}
        urls[SINGLE] = urls[ON]
        local = InProcess(pick, single)  # timed in each round, while the servers are idle
        for _ in range(args.rounds):
            rounds.append({name: loadtest(url, single if name == SINGLE else load)
                           for name, url in urls.items()})
            rounds[-1]["in_process_p50_ms"] = local.p50_ms(args.requests // 2)
    return {"rounds": rounds, "serving": _median_round(rounds), "targets": verdicts(rounds)}


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per server, the round with the median throughput (a real measurement, not a blend)."""
    out = {}
    for name in (ON, OFF, TEACHER, SINGLE):
        ranked = sorted((r[name] for r in rounds), key=lambda x: x["throughput_rps"])
        out[name] = ranked[(len(ranked) - 1) // 2]
    return out


def verdicts(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def median(fn) -> float:
        return statistics.median(fn(r) for r in rounds)

    in_process = median(lambda r: r["in_process_p50_ms"])
    allowed = max(in_process * 1.25, in_process + 2.0)
    single_p50 = median(lambda r: r[SINGLE]["p50_ms"])
    return {
        "rounds": len(rounds),
        "batching_throughput_ratio": median(
            lambda r: r[ON]["throughput_rps"] / r[OFF]["throughput_rps"]),
        "batching_p99_not_higher": all(r[ON]["p99_ms"] <= r[OFF]["p99_ms"] for r in rounds),
        "pick_over_teacher_throughput": median(
            lambda r: r[ON]["throughput_rps"] / r[TEACHER]["throughput_rps"]),
        "single_p50_ms": single_p50, "in_process_p50_ms": in_process,
        "overhead_ms": median(lambda r: r[SINGLE]["p50_ms"] - r["in_process_p50_ms"]),
        "overhead_allowed_p50_ms": allowed, "overhead_within": single_p50 <= allowed,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    from benchmarks.serving import markdown as table

    t = result["targets"]
    per_round = ", ".join(f"{r[ON]['throughput_rps'] / r[OFF]['throughput_rps']:.2f}x"
                          for r in result["rounds"])
    return "\n".join([
        "# Serving study", "", f"Reproduce: `{command}`.", "",
        f"Each server's round with the median throughput of {t['rounds']} interleaved rounds:", "",
        table(result["serving"]),
        f"- dynamic batching / batching off, 16 clients: {t['batching_throughput_ratio']:.2f}x "
        f"requests per second, median of the rounds ({per_round}; target >= 1.5x); p99 not "
        f"higher in every round: {t['batching_p99_not_higher']}",
        f"- pick / teacher, 16 clients: {t['pick_over_teacher_throughput']:.2f}x requests per "
        "second (target >= 3x)",
        f"- concurrency 1: served p50 {t['single_p50_ms']:.2f} ms against "
        f"{t['in_process_p50_ms']:.2f} ms in process, each timed in every round (medians; "
        f"overhead +{t['overhead_ms']:.2f} ms, the median of the rounds' differences; allowed up to "
        f"{t['overhead_allowed_p50_ms']:.2f} ms): {t['overhead_within']}", ""])


def main(argv: list[str] | None = None) -> int:
    import shlex

    from slimkit import atomic

    parser = argparse.ArgumentParser(prog="python -m serving.study", description=__doc__)
    parser.add_argument("run_dir")
    for flag, default in (("--data", None), ("--text", "sentence"), ("--text-pair", None),
                          ("--label", "label"), ("--pick", "best"), ("--teacher", "teacher")):
        parser.add_argument(flag, default=default, required=flag == "--data")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args(argv)
    result = measure(Path(args.run_dir), args)
    command = shlex.join(["python", "-m", "serving.study", *(argv or sys.argv[1:])])
    atomic.write_json(Path(f"{args.out}.json"), {**result, "command": command})
    atomic.write_text(Path(f"{args.out}.md"), markdown(result, command))
    sys.stdout.write(markdown(result, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
