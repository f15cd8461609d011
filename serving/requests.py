"""A ``POST /predict`` body, read and checked before anything reaches the model: every problem is
a ``BadRequest`` with an HTTP status and one line."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from serving.config import ServeConfig


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class PredictBody(BaseModel):
    """``{"text": ...}`` or ``{"texts": [...]}``, with ``text_pair`` / ``text_pairs`` beside."""

    model_config = ConfigDict(extra="forbid")
    text: StrictStr | None = None
    texts: list[StrictStr] | None = None
    text_pair: StrictStr | None = None
    text_pairs: list[StrictStr] | None = None


async def read_body(stream: Any, declared: str | None, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes whether it says its length or not."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {int(declared)} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes) -> PredictBody:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "body is not UTF-8") from None
    except RecursionError:
        raise BadRequest(400, "body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(400, f"body is not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(value, dict):
        raise BadRequest(422, 'body must be a JSON object such as {"text": "..."}')
    try:
        return PredictBody.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(422, f"{where}: {first['msg']}") from None


def texts_of(body: PredictBody, cfg: ServeConfig,
             pairs_expected: bool | None) -> tuple[list[str], list[str] | None]:
    """The request's texts (and pairs) as lists, checked against the limits and the task."""
    texts = _one_of(body.text, body.texts, "text", "texts", required=True)
    pairs = _one_of(body.text_pair, body.text_pairs, "text_pair", "text_pairs", required=False)
    if not texts:
        raise BadRequest(422, "texts: give at least one text")
    if len(texts) > cfg.max_texts:
        raise BadRequest(413, f"texts: {len(texts)} texts is over the limit of {cfg.max_texts} "
                              "per request")
    if pairs_expected and pairs is None:
        raise BadRequest(422, "text_pair: this model reads text pairs; give text_pair (or "
                              "text_pairs, one per text)")
    if pairs_expected is False and pairs is not None:
        raise BadRequest(422, "text_pair: this model reads single texts; drop text_pair")
    if pairs is not None and len(pairs) != len(texts):
        raise BadRequest(422, f"text_pairs: {len(pairs)} pairs for {len(texts)} texts")
    for name, values in (("text", texts), ("text_pair", pairs or [])):
        blank = next((i for i, t in enumerate(values) if not t.strip()), None)
        if blank is not None:
            raise BadRequest(422, f"{name}[{blank}]: empty text")
    return texts, pairs


def _one_of(single: str | None, many: list[str] | None, one: str, several: str,
            required: bool) -> list[str] | None:
    if single is not None and many is not None:
        raise BadRequest(422, f"give {one} or {several}, not both")
    if single is not None:
        return [single]
    if many is None and required:
        raise BadRequest(422, f'give "{one}": "..." or "{several}": ["...", ...]')
    return many
