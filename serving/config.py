"""What ``slimkit serve`` and ``slimkit loadtest`` take (flags generated from these models by
``slimkit.cli_flags``). Pydantic only: the CLI builds its parser from these without the server
stack installed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServeConfig(_Strict):
    """One variant folder behind an HTTP JSON API with dynamic batching."""

    host: str = Field("127.0.0.1", description="address to bind (default loopback only)")
    port: int = Field(8000, ge=1, le=65535, description="port to bind")
    max_batch_size: PositiveInt = Field(
        16, le=1024, description="texts merged into one model call (1: batching off)")
    max_wait_ms: float = Field(5.0, ge=0, le=10_000,
                               description="how long a call waits for more texts to merge")
    threads: PositiveInt | None = Field(None, description="intra-op threads (default: physical cores)")
    max_texts: PositiveInt = Field(256, description="texts one request may send")
    max_body_kb: PositiveInt = Field(1024, description="largest request body accepted")
    too_long: Literal["truncate", "refuse"] = Field(
        "truncate", description="a text longer than the model's max length: cut or answer 422")
    warmup_calls: int = Field(3, ge=0, description="model calls before /health reports ready")


class LoadtestConfig(_Strict):
    """Real texts replayed against a running server."""

    data: str = Field(description="TSV / CSV / JSONL of texts (e.g. the eval rows)")
    text: str = Field("sentence", description="the text column")
    text_pair: str | None = Field(None, description="the second text's column, for pair tasks")
    label: str = Field("label", description="the label column (read with the rows, not sent)")
    concurrency: PositiveInt = Field(16, le=1024, description="clients sending at once (closed loop)")
    rate: float | None = Field(None, gt=0, description="requests per second, open loop "
                               "(default: closed loop)")
    requests: PositiveInt | None = Field(None, le=1_000_000, description="stop after this many")
    duration: float | None = Field(None, gt=0, le=3600, description="stop after this many seconds")
    warmup: int = Field(16, ge=0, description="untimed requests first")
    timeout: float = Field(30.0, gt=0, description="seconds one request may take")

    @model_validator(mode="after")
    def _one_stop(self) -> LoadtestConfig:
        if self.requests is None and self.duration is None:
            raise ValueError("give requests or duration (or both: whichever comes first)")
        return self
