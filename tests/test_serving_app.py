"""The service in-process (FastAPI's test client over the real app and a real tiny variant):
options a subprocess test would need a server each for, and the batcher on its own."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def served(trained_teacher):
    from serving.model import open_served

    return open_served(trained_teacher, threads=1)


def client(served, **settings):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServeConfig

    return TestClient(create_app(served, ServeConfig(**settings)))


def test_too_long_refuse_answers_422_and_truncate_answers(served):
    long_text = " ".join(["wonderful"] * (served.max_length + 5))
    with client(served, too_long="refuse", warmup_calls=0) as http:
        answer = http.post("/predict", json={"texts": ["fine", long_text]})
        assert answer.status_code == 422
        assert answer.json()["error"].startswith(f"texts[1]: {served.max_length + 7} tokens is "
                                                 f"over the model's maximum of {served.max_length}")
    with client(served, warmup_calls=0) as http:
        assert http.post("/predict", json={"text": long_text}).status_code == 200


def test_a_model_error_answers_500_and_the_server_goes_on(served):
    from dataclasses import replace

    calls = []

    def failing_once(texts, pairs, batch_size):
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return served.predict(texts, pairs, batch_size)

    broken = replace(served)
    broken.predict = failing_once
    with client(broken, warmup_calls=0) as http:
        first = http.post("/predict", json={"text": "a fine film"})
        assert (first.status_code, first.json()) == (
            500, {"error": "model error: RuntimeError: out of memory"})
        assert http.post("/predict", json={"text": "a fine film"}).status_code == 200
        metrics = http.get("/metrics").text
    assert 'slimkit_requests_total{status="500"} 1.0' in metrics
    assert 'slimkit_requests_total{status="200"} 1.0' in metrics


def test_a_pair_model_requires_its_pairs(served):
    from dataclasses import replace

    with client(replace(served, pairs=True), warmup_calls=0) as http:
        answer = http.post("/predict", json={"text": "a"})
        assert (answer.status_code, answer.json()["error"]) == (
            422, "text_pair: this model reads text pairs; give text_pair (or text_pairs, one per "
                 "text)")
        answer = http.post("/predict", json={"texts": ["a", "b"], "text_pairs": ["c"]})
        assert answer.json()["error"] == "text_pairs: 1 pairs for 2 texts"
        assert http.post("/predict", json={"text": "a", "text_pair": "b"}).status_code == 200


def test_the_batcher_merges_waiting_jobs_up_to_the_limit_in_order():
    from serving.batcher import Batcher, Observer

    rounds: list[int] = []

    def predict(texts, pairs, batch_size):
        return np.array([[float(t), 0.0] for t in texts])

    async def main():
        batcher = Batcher(predict, max_batch_size=4, max_wait_ms=50,
                          observer=Observer(batch=rounds.append))
        batcher.start()
        answers = await asyncio.gather(*(batcher.submit([str(i)], None) for i in range(10)))
        await batcher.stop()
        return answers

    answers = asyncio.run(main())
    assert [float(a[0][0]) for a in answers] == list(range(10))
    assert sum(rounds) == 10 and rounds[0] >= 4 and len(rounds) < 10


def test_a_lone_request_runs_at_once_and_a_loaded_server_waits_for_company():
    from serving.batcher import Batcher, Observer

    waits: list[float] = []

    def predict(texts, pairs, batch_size):
        return np.zeros((len(texts), 2))

    async def main():
        batcher = Batcher(predict, max_batch_size=8, max_wait_ms=300,
                          observer=Observer(wait=waits.append))
        batcher.start()
        await batcher.submit(["alone"], None)                  # idle server: no wait
        await asyncio.gather(*(batcher.submit([str(i)], None) for i in range(3)))
        await batcher.submit(["after a round of 3"], None)     # loaded: waits for company
        await batcher.submit(["alone again"], None)            # the last round had one text
        await batcher.stop()

    asyncio.run(main())
    assert len(waits) == 6
    assert waits[0] < 0.15 and waits[5] < 0.15
    assert waits[4] >= 0.3  # the whole max_wait: nobody came


def test_the_study_judges_the_targets_on_ratios_within_each_round():
    """The serving study's verdicts: medians of the ratios measured within a round (so that a
    round where the whole machine was slow moves both sides), the round with the median
    throughput as each server's table row."""
    from serving.study import OFF, ON, SINGLE, TEACHER, _median_round, markdown, verdicts

    def row(rps: float, p99: float, p50: float = 5.0) -> dict:
        return {"throughput_rps": rps, "p50_ms": p50, "p90_ms": p99, "p99_ms": p99, "ok": 10,
                "requests": 10, "mode": "closed", "concurrency": 16, "batching": None}

    # round 2 is a slow machine: every server halves, the ratios hold
    rounds = [{ON: row(400, 40), OFF: row(200, 80), TEACHER: row(100, 150), SINGLE: row(200, 9, 4),
               "in_process_p50_ms": 2.5},
              {ON: row(200, 80), OFF: row(100, 90), TEACHER: row(50, 300), SINGLE: row(100, 9, 6),
               "in_process_p50_ms": 4.0},
              {ON: row(330, 50), OFF: row(300, 60), TEACHER: row(110, 160), SINGLE: row(190, 9, 5),
               "in_process_p50_ms": 3.0}]
    t = verdicts(rounds)
    assert t["batching_throughput_ratio"] == 2.0  # median of 2.0, 2.0, 1.1
    assert t["pick_over_teacher_throughput"] == 4.0  # median of 4.0, 4.0, 3.0
    assert t["batching_p99_not_higher"] is True
    # served p50s 4, 6, 5 against 2.5, 4.0, 3.0 in process: differences 1.5, 2.0, 2.0
    assert t["single_p50_ms"] == 5.0 and t["in_process_p50_ms"] == 3.0
    assert t["overhead_ms"] == 2.0
    assert t["overhead_allowed_p50_ms"] == 5.0 and t["overhead_within"] is True
    rounds[1][ON]["p99_ms"] = 91.0  # one round where batching's tail was worse
    assert verdicts(rounds)["batching_p99_not_higher"] is False
    table = _median_round(rounds)
    assert [table[name]["throughput_rps"] for name in (ON, OFF, TEACHER)] == [330, 200, 100]
    text = markdown({"rounds": rounds, "serving": table, "targets": t},
                    "python -m serving.study RUN")
    assert "2.00x requests per second, median of the rounds (2.00x, 2.00x, 1.10x" in text
