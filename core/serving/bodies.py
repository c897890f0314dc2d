"""Request bodies: how the API reads JSON and how it refuses what it cannot read.

A body is JSON only (415 otherwise), read within a deadline (408), parsed and validated by
pydantic-core in one pass with no key twice in an object, and refused with a bounded 422 that
says where and what without echoing the whole input. Nothing here knows about models or scoring.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

Body = TypeVar("Body", bound=BaseModel)

# A 422 reports at most this many errors (and how many there were), each input cut to an
# excerpt: a 5 MB body with 300k unknown keys would otherwise answer a 39 MB 422.
MAX_REPORTED_ERRORS = 20
EXCERPT_CHARS = 100


class BodyValidationError(RequestValidationError):
    """A body's 422: the first errors found and how many there are in all."""

    def __init__(self, errors: Sequence[Any], *, count: int) -> None:
        super().__init__(errors)
        self.count = count


class BodyReadTimeout(Exception):
    """The client did not send its whole body within the app's body-read deadline."""


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an operation that reads its body with `parse_json_body`
    (a new dict each time: the app's `openapi()` fills it in with the served model's schema)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def fields_given(parsed: BaseModel) -> int:
    """The keys a flat model's JSON object had (see `parse_json_body`)."""
    return len(parsed.model_fields_set)


def records_members(parsed: Any) -> int:
    """The members of {"records": [{...}, ...]} (see `parse_json_body`)."""
    return 1 + sum(len(r.model_fields_set) for r in parsed.records)


def parse_json_body(
    model: type[Body], body: bytes, members: Callable[[Body], int] = fields_given
) -> Body:
    """The body as `model`, parsed and validated by pydantic-core in one pass, with no key
    twice in an object.

    An invalid body is a 422 whose errors are located under `body`, like FastAPI's own.
    `members(parsed)` counts the object members the validated body had (keys across all its
    objects). pydantic-core keeps the last of duplicate keys silently; a colon outside a string
    is always a member's, so when the body has exactly `members` colons no key can be
    duplicated. That count is the fast path (about 0.3 ms per MB); only a body with more
    colons (duplicates, colons inside strings, or keys the model drops) is parsed once more to
    look for a duplicate.
    """
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]
        raise BodyValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in errors], count=exc.error_count()
        ) from None
    if body.count(b":") != members(parsed):
        _refuse_duplicate_keys(body)
    return parsed


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _refuse_duplicate_keys(body: bytes) -> None:
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise BodyValidationError(
            [
                {
                    "type": "duplicate_key",
                    "loc": ("body",),
                    "msg": "a key appears twice in one object: each key may appear once",
                    "input": exc.args[0],
                }
            ],
            count=1,
        ) from None
    except ValueError:
        # What pydantic-core read and Python's json does not (an integer of over 4300 digits
        # coerced to text): pydantic-core's reading stands.
        return


def is_json_media_type(content_type: str | None) -> bool:
    """application/json or application/<anything>+json, any parameters; or no content-type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json_request(request: Request) -> bytes:
    """The body of an operation that takes JSON, read within the app's body-read deadline.

    JSON only (415 otherwise): a browser posts text/plain and form bodies to any site without
    asking. A body with no content-type is read as JSON: the sample events API Gateway projects
    publish (REST v1 and HTTP API v2) carry none. A browser can send a body without a
    content-type too, so a request a browser marks as coming from another site is refused (403):
    no page elsewhere is served by this API (it sends no CORS headers).
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPException(403, "cross-site browser requests are refused")
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):
        raise HTTPException(
            415, f"content-type {excerpt_text(content_type or '')!r}: send application/json"
        )
    try:
        async with asyncio.timeout(request.app.state.body_read_timeout_seconds):
            return await request.body()
    except TimeoutError:
        raise BodyReadTimeout from None


def json_body(model: type[Body]) -> Any:
    """`parse_json_body` as a dependency: `body: Annotated[Model, json_body(Model)]`."""

    async def read(request: Request) -> Body:
        return parse_json_body(model, await read_json_request(request))

    return Depends(read)


async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """The 422 of every operation: bounded whatever the client sent (the first errors, each
    with an excerpt of its input) and encodable (FastAPI's own handler fails, a 500, on an
    input JSON cannot carry). Nothing of the input is logged."""
    errors = exc.errors()
    return JSONResponse(
        status_code=422,
        content={
            "detail": [_safe_error(e) for e in errors[:MAX_REPORTED_ERRORS]],
            "error_count": getattr(exc, "count", len(errors)),
        },
    )


async def body_read_timed_out(request: Request, exc: Exception) -> JSONResponse:
    seconds = request.app.state.body_read_timeout_seconds
    return JSONResponse(
        status_code=408,
        content={"detail": f"the request body did not arrive within {seconds:g} s"},
        headers={"connection": "close"},  # the rest of the body is never read
    )


def _safe_error(error: Any) -> dict[str, Any]:
    """Where (a location), what (type and message) and a bounded excerpt of the input."""
    entry: dict[str, Any] = {
        "loc": [excerpt_text(p) if isinstance(p, str) else p for p in error["loc"]],
        "msg": excerpt_text(str(error["msg"]), 4 * EXCERPT_CHARS),
        "type": str(error["type"]),
    }
    if "input" in error:
        entry["input"] = _excerpt(error["input"])
    if error.get("ctx"):
        entry["ctx"] = {str(k): _ctx_value(v) for k, v in error["ctx"].items()}
    return entry


def excerpt_text(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text, or its first `limit` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _excerpt(value: Any) -> Any:
    """An echoed input, short and encodable: a body that is not UTF-8 JSON and containers as
    a description (a missing field's input is its whole record), text cut to an excerpt, NaN
    and infinities (which Python's json and pydantic-core parse, 1e400 included) by the names
    clients write them with."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return excerpt_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes of invalid JSON>"
    if isinstance(value, dict):
        return f"<object of {len(value)} keys>"
    if isinstance(value, list | tuple):
        return f"<array of {len(value)} items>"
    return excerpt_text(repr(value))


def _ctx_value(value: Any) -> Any:
    """A limit in an error's context as JSON has it (`"min_length": 1`), anything else (an
    exception, a pattern) as bounded text."""
    return _excerpt(value) if isinstance(value, int | float) else excerpt_text(str(value))
