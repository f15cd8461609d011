"""The server's Prometheus metrics, in a registry of its own (no process-wide globals), exposed
in the text format by ``GET /metrics``."""

from __future__ import annotations

from typing import Any

from serving.batcher import Observer

# seconds: 1 ms to 10 s, denser where a CPU model's latency lives
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("slimkit_requests", "HTTP requests to /predict by status code",
                                ["status"], registry=self.registry)
        self.texts = Counter("slimkit_texts", "texts predicted", registry=self.registry)
        self.latency = Histogram("slimkit_request_latency_seconds",
                                 "time from a /predict request's arrival to its answer",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_wait = Histogram("slimkit_queue_wait_seconds",
                                    "time a request waited for its model call to start",
                                    buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("slimkit_batch_size", "texts per batching round",
                                    buckets=BATCH_BUCKETS, registry=self.registry)

    def observer(self) -> Observer:
        return Observer(batch=self.batch_size.observe, wait=self.queue_wait.observe)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def request_done(self, status: int, seconds: float, texts: int = 0) -> None:
        self.requests.labels(status=str(status)).inc()
        self.latency.observe(seconds)
        self.texts.inc(texts)


def summary(metrics: ServerMetrics) -> dict[str, Any]:
    """Counts for the log line at shutdown."""
    total = sum(s.value for m in metrics.requests.collect() for s in m.samples
                if s.name.endswith("_total"))
    return {"requests": int(total)}
