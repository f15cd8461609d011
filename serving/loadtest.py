"""``slimkit loadtest URL --data FILE``: real texts replayed against a running server, one text
per request, closed loop (``concurrency`` clients, each sending its next request when the last
is answered) or open loop (``rate`` requests a second on a fixed schedule, latency counted from
the scheduled send so that a slow server cannot hide its queue). Bounded in requests and seconds."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from serving.config import LoadtestConfig
from slimkit.errors import SlimkitError

JSON = {"content-type": "application/json"}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, status: str, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "200":
            self.latencies.append(seconds)


def read_texts(cfg: LoadtestConfig) -> list[dict[str, str]]:
    """The request bodies: one per row of the data file, in file order."""
    from pathlib import Path

    from slimkit.data import load_splits
    from slimkit.errors import RecipeError
    from slimkit.recipe import DataConfig

    if not Path(cfg.data).is_file():
        raise RecipeError(f"{cfg.data}: no such file", file="slimkit loadtest", field="--data",
                          fix="give a TSV / CSV / JSONL of texts, e.g. data/sst2/dev.tsv")
    columns = DataConfig(train=cfg.data, eval=cfg.data, text=cfg.text, text_pair=cfg.text_pair,
                         label=cfg.label)
    rows = load_splits(columns).eval
    if not len(rows):
        raise SlimkitError(f"{cfg.data}: no rows to send")
    pairs = rows.text_pairs or [None] * len(rows)
    return [{"text": t} if p is None else {"text": t, "text_pair": p}
            for t, p in zip(rows.texts, pairs, strict=True)]


async def _send(client: Any, url: str, body: bytes, tally: Tally, since: float) -> None:
    try:
        async with client.post(url, data=body, headers=JSON) as answer:
            await answer.read()
            status = str(answer.status)
    except Exception as exc:  # a refused connection or a timeout is a result, not a crash
        status = type(exc).__name__
    tally.add(status, time.perf_counter() - since)


async def _closed(client: Any, url: str, bodies: Any, cfg: LoadtestConfig, tally: Tally,
                  until: float, budget: itertools.count) -> None:
    async def client_loop() -> None:
        while time.perf_counter() < until and next(budget) < (cfg.requests or 1 << 62):
            started = time.perf_counter()
            await _send(client, url, next(bodies), tally, started)

    await asyncio.gather(*(client_loop() for _ in range(cfg.concurrency)))


async def _open(client: Any, url: str, bodies: Any, cfg: LoadtestConfig, tally: Tally,
                until: float) -> None:
    start, sent, pending = time.perf_counter(), 0, set()
    while time.perf_counter() < until and sent < (cfg.requests or 1 << 62):
        scheduled = start + sent / cfg.rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        task = asyncio.create_task(_send(client, url, next(bodies), tally, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    await asyncio.gather(*pending)


async def _run(url: str, cfg: LoadtestConfig, texts: list[dict[str, str]]) -> dict[str, Any]:
    # aiohttp, not httpx: on 2 cores the client shares the CPU with the server it measures, and
    # httpx spent 1.3-1.8 ms of CPU a request against aiohttp's 0.2-0.3 (measured, 16 clients)
    import aiohttp

    predict = url.rstrip("/") + "/predict"
    bodies = itertools.cycle([json.dumps(body).encode() for body in texts])
    connector = aiohttp.TCPConnector(limit=max(cfg.concurrency, 64))
    timeout = aiohttp.ClientTimeout(total=cfg.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        metadata = await _metadata(client, url)
        for _ in range(cfg.warmup):
            await _send(client, predict, next(bodies), Tally(), time.perf_counter())
        tally, started = Tally(), time.perf_counter()
        until = started + (cfg.duration or float("inf"))
        if cfg.rate is None:
            await _closed(client, predict, bodies, cfg, tally, until, itertools.count())
        else:
            await _open(client, predict, bodies, cfg, tally, until)
        seconds = time.perf_counter() - started
    return summarize(tally, seconds, url, cfg, metadata)


async def _metadata(client: Any, url: str) -> dict[str, Any]:
    try:
        async with client.get(url.rstrip("/") + "/metadata") as answer:
            answer.raise_for_status()
            return await answer.json()
    except Exception as exc:
        raise SlimkitError(f"{url}: no slimkit server answers there ({type(exc).__name__}); "
                           "start one with `slimkit serve FOLDER`") from None


def summarize(tally: Tally, seconds: float, url: str, cfg: LoadtestConfig,
              metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``serving`` entry of a report: throughput of answered requests and their latency."""
    ms = sorted(x * 1e3 for x in tally.latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"url": url, "variant": metadata.get("variant"), "backend": metadata.get("backend"),
            "precision": metadata.get("precision"), "batching": metadata.get("batching"),
            "mode": "closed" if cfg.rate is None else "open", "concurrency": cfg.concurrency,
            "rate": cfg.rate, "data": cfg.data, "requests": sum(tally.statuses.values()),
            "ok": len(ms), "statuses": tally.statuses, "seconds": seconds,
            "throughput_rps": len(ms) / seconds if seconds > 0 else 0.0,
            "p50_ms": cuts[49] if ms else None, "p90_ms": cuts[89] if ms else None,
            "p99_ms": cuts[98] if ms else None, "mean_ms": statistics.fmean(ms) if ms else None}


def loadtest(url: str, cfg: LoadtestConfig) -> dict[str, Any]:
    return asyncio.run(_run(url, cfg, read_texts(cfg)))
