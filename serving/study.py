"""The serving study behind the README's "Serving" table, measured in one run on this machine:

    python -m serving.study runs/sst2-minilm --data data/sst2/dev.tsv \\
        --pick best --teacher teacher --out benchmarks/results/serving-sst2

1. the pick served with dynamic batching and with batching off, 16 clients replaying the texts;
2. the teacher served with batching under the same load;
3. the pick at concurrency 1 against its own predict function called in this process on the
   same texts (the serving overhead: HTTP, JSON, queue).
Each server is a real ``slimkit serve`` subprocess on a free loopback port."""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.config import LoadtestConfig
from serving.loadtest import loadtest, read_texts

BATCHING, NO_BATCHING = ["--max-batch-size", "16", "--max-wait-ms", "5"], ["--max-batch-size", "1"]


@contextmanager
def server(folder: Path, flags: list[str]):
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "slimkit", "-q", "serve", str(folder),
                                "--port", str(port), *flags])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:  # never ready: measuring a dead port would report only connection errors
            raise RuntimeError(f"slimkit serve {folder} was not ready in 2 minutes")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=120)


def in_process_p50_ms(folder: Path, cfg: LoadtestConfig, calls: int) -> float:
    """The served predict function called here, one text per call, the texts in load-test order."""
    from serving.model import open_served

    served = open_served(folder, threads=None)
    bodies = read_texts(cfg)
    for body in bodies[:16]:
        served.predict([body["text"]], None, 1)
    seconds = []
    for i in range(calls):
        body = bodies[i % len(bodies)]
        pair = [body["text_pair"]] if "text_pair" in body else None
        started = time.perf_counter()
        served.predict([body["text"]], pair, 1)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1e3


def measure(run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    load = LoadtestConfig(data=args.data, text=args.text, text_pair=args.text_pair,
                          label=args.label, concurrency=16, requests=args.requests)
    single = load.model_copy(update={"concurrency": 1, "requests": args.requests // 2})
    pick, teacher = run_dir / args.pick, run_dir / args.teacher
    out: dict[str, Any] = {}
    with server(pick, BATCHING) as url:
        out["pick, batching, 16 clients"] = loadtest(url, load)
        out["pick, batching, 1 client"] = loadtest(url, single)
    with server(pick, NO_BATCHING) as url:
        out["pick, batching off, 16 clients"] = loadtest(url, load)
    with server(teacher, BATCHING) as url:
        out["teacher, batching, 16 clients"] = loadtest(url, load)
    in_process = in_process_p50_ms(pick, single, args.requests // 2)
    return {"serving": out, "in_process_p50_ms": in_process, "targets": verdicts(out, in_process)}


def verdicts(out: dict[str, Any], in_process: float) -> dict[str, Any]:
    on, off = out["pick, batching, 16 clients"], out["pick, batching off, 16 clients"]
    teacher, single = out["teacher, batching, 16 clients"], out["pick, batching, 1 client"]
    allowed = max(in_process * 1.25, in_process + 2.0)
    return {
        "batching_throughput_ratio": on["throughput_rps"] / off["throughput_rps"],
        "batching_p99_not_higher": on["p99_ms"] <= off["p99_ms"],
        "pick_over_teacher_throughput": on["throughput_rps"] / teacher["throughput_rps"],
        "overhead_ms": single["p50_ms"] - in_process, "overhead_allowed_p50_ms": allowed,
        "overhead_within": single["p50_ms"] <= allowed,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    from benchmarks.serving import markdown as table

    t = result["targets"]
    return "\n".join([
        "# Serving study", "", f"Reproduce: `{command}`.", "", table(result["serving"]),
        f"- dynamic batching / batching off, 16 clients: {t['batching_throughput_ratio']:.2f}x "
        f"requests per second (target >= 1.5x); p99 not higher: {t['batching_p99_not_higher']}",
        f"- pick / teacher, 16 clients: {t['pick_over_teacher_throughput']:.2f}x requests per "
        "second (target >= 3x)",
        f"- concurrency 1: served p50 {result['serving']['pick, batching, 1 client']['p50_ms']:.2f}"
        f" ms against {result['in_process_p50_ms']:.2f} ms in process (+{t['overhead_ms']:.2f} "
        f"ms; allowed up to {t['overhead_allowed_p50_ms']:.2f} ms): {t['overhead_within']}", ""])


def main(argv: list[str] | None = None) -> int:
    import shlex

    from slimkit import atomic

    parser = argparse.ArgumentParser(prog="python -m serving.study", description=__doc__)
    parser.add_argument("run_dir")
    for flag, default in (("--data", None), ("--text", "sentence"), ("--text-pair", None),
                          ("--label", "label"), ("--pick", "best"), ("--teacher", "teacher")):
        parser.add_argument(flag, default=default, required=flag == "--data")
    parser.add_argument("--requests", type=int, default=2000)
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
