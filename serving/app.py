"""The HTTP service of ``slimkit serve``: FastAPI routes over one variant and its batcher.

- ``POST /predict``: labels and probabilities, in the order given
- ``GET /health``: 200 once the model is loaded and warmed up; 503 before and while stopping
- ``GET /metadata``: variant, backend, precision, labels, max length, the manifest's metrics
- ``GET /metrics``: Prometheus text format"""


# no `from __future__ import annotations`: FastAPI reads the routes' annotations as objects
import logging
import signal
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from serving.batcher import Batcher
from serving.config import ServeConfig
from serving.metrics import ServerMetrics
from serving.model import Served
from serving.requests import BadRequest, parse_body, read_body, texts_of

log = logging.getLogger(__name__)


@dataclass
class State:
    cfg: ServeConfig
    served: Served
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    batcher: Batcher | None = None
    ready: bool = False

    async def open(self) -> None:
        """Warm the model up on its worker thread, then take requests."""
        self.batcher = Batcher(self.served.predict, self.cfg.max_batch_size, self.cfg.max_wait_ms,
                               self.metrics.observer())
        warm = ["a warm-up sentence"] * self.cfg.max_batch_size
        for _ in range(self.cfg.warmup_calls):
            await self.batcher.call_directly(warm, warm if self.served.pairs else None)
        self.batcher.start()
        self.ready = True
        log.info("serving %s (%s, %s): ready", self.served.folder,
                 self.served.variant.manifest.backend,
                 self.served.variant.manifest.precision)

    async def close(self) -> None:
        self.ready = False
        if self.batcher is not None:
            await self.batcher.stop()  # queued requests are answered first

    def batching(self) -> dict[str, Any]:
        return {"max_batch_size": self.cfg.max_batch_size, "max_wait_ms": self.cfg.max_wait_ms,
                "too_long": self.cfg.too_long, "max_texts": self.cfg.max_texts}


def create_app(served: Served, cfg: ServeConfig) -> Any:
    """The app over a variant already opened (so that a bad folder fails before any socket)."""
    from fastapi import FastAPI

    state = State(cfg, served=served)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.open()
        yield
        await state.close()

    app = FastAPI(title="slimkit serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    _routes(app, state)
    return app


def _routes(app: Any, state: State) -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        status, answer, count = await _answer(request, state)
        state.metrics.request_done(status, time.perf_counter() - started, count)
        return JSONResponse(answer, status_code=status)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ready" if state.ready else "not ready"},
                            status_code=200 if state.ready else 503)

    @app.get("/metadata")
    async def metadata() -> JSONResponse:
        return JSONResponse(state.served.metadata(state.batching()))

    @app.get("/metrics")
    async def metrics() -> Response:
        body, media_type = state.metrics.exposition()
        return Response(body, media_type=media_type)


async def _answer(request: Any, state: State) -> tuple[int, dict[str, Any], int]:
    """(status, JSON answer, texts predicted) of one /predict request."""
    cfg = state.cfg
    try:
        if not state.ready:
            raise BadRequest(503, "the model is not ready (loading or shutting down)")
        raw = await read_body(request.stream(), request.headers.get("content-length"),
                              cfg.max_body_kb * 1024)
        texts, pairs = texts_of(parse_body(raw), cfg, state.served.pairs)
        if cfg.too_long == "refuse":
            _refuse_long(state.served, texts, pairs)
        probs = await state.batcher.submit(texts, pairs)
    except BadRequest as exc:
        return exc.status, {"error": exc.message}, 0
    except Exception as exc:  # the model failed: this request gets 500, the server goes on
        log.error("predict failed: %s", exc)
        return 500, {"error": f"model error: {type(exc).__name__}: {exc}"[:500]}, 0
    names = state.served.label_names
    return 200, {"predictions": [
        {"label": names[int(row.argmax())],
         "probabilities": {name: round(float(p), 6) for name, p in zip(names, row, strict=True)}}
        for row in probs]}, len(texts)


def _refuse_long(served: Served, texts: list[str], pairs: list[str] | None) -> None:
    counts = served.token_counts(texts, pairs)
    over = next((i for i, n in enumerate(counts) if n > served.max_length), None)
    if over is not None:
        raise BadRequest(422, f"texts[{over}]: {counts[over]} tokens is over the model's maximum "
                              f"of {served.max_length} (the server refuses long texts: "
                              "--too-long refuse)")


def serve(folder: str, cfg: ServeConfig) -> None:
    """Open the variant, then serve it until SIGINT / SIGTERM; queued requests finish first."""
    import uvicorn

    from serving.model import open_served

    served = open_served(folder, cfg.threads)
    config = uvicorn.Config(create_app(served, cfg), host=cfg.host, port=cfg.port,
                            log_level="warning", access_log=False, timeout_graceful_shutdown=30)
    log.info("http://%s:%d/predict: %s, max batch %d, max wait %g ms", cfg.host, cfg.port,
             served.variant.manifest.variant, cfg.max_batch_size, cfg.max_wait_ms)
    # uvicorn shuts down gracefully on SIGINT / SIGTERM, then raises the signal again for the
    # handler that was there before it: ours makes that a clean exit (status 0)
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: Any) -> None:
    log.info("stopped by %s; every queued request was answered", signal.Signals(signum).name)
    raise SystemExit(0)
