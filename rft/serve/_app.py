"""The ASGI app behind ``rft serve-graders`` (Starlette; served by uvicorn in :mod:`rft.serve._run`).

Routes, under ``/v1`` as OpenAI's:

- ``POST /v1/fine_tuning/alpha/graders/run``: ``{grader, model_sample, item}`` -> OpenAI's
  ``GraderRunResponse`` (plus ``grade``, rft's full verdict).
- ``POST /v1/fine_tuning/alpha/graders/validate``: ``{grader}`` -> ``{grader}``, or HTTP 400 whose
  ``error.param`` names the bad field (``grader.graders.email.operation``).
- ``POST /v1/rft/grade`` (rft extension): ``{grader, samples: [str], items: [object]}`` -> ``{"object":
  "list", "data": [GraderRunResponse, ...]}``: one call grades many samples, in one batch.
- ``GET /v1/rft/stats`` (rft extension) and ``GET /health``.

Every error is OpenAI's ``{"error": {"message", "type", "param", "code"}}``: 400 malformed JSON or a
bad config, 401 a missing or wrong bearer token, 403 code or server resources the server does not
trust, 404/405 an unknown route or method, 413 a body over the limit, 500 a bug.

Grading runs off the event loop in two lanes of ``workers`` each: *fast* (string checks,
similarity, regex, ...) and *slow* (judges and python graders, which wait on a model or a sandbox),
so a slow judge never holds up a string check.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import sys
import time
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rft._errors import ConfigError, UntrustedCodeError
from rft._grade import Grade
from rft.serve._config import ServeConfig
from rft.serve._openai import error_body, reads_output_json, run_response, served_sample
from rft.serve._pool import Entry, GraderPool

__all__ = ["GradersApp", "create_app"]

#: A fast-lane grader whose last call took less than this runs on the event loop, when the request's
#: samples are short: a hop to a worker thread costs more than such a call (and far more on a busy
#: machine, where the thread must wait to be scheduled).
_INLINE_SECONDS = 0.0005
_INLINE_CHARS = 2000

#: A body over the limit is still read (and dropped) up to this many times the limit, so that the
#: client, which is still sending, reads the 413 instead of a reset connection.
_DRAIN_FACTOR = 8


class Reject(Exception):
    """An HTTP error with OpenAI's error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(error_body(self.message, kind=self.kind, param=self.param, code=self.code),
                            status_code=self.status, headers=headers)


class GradersApp:
    """The server's state (grader pool, lanes, counters) and its request handlers."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.pool = GraderPool(trust_code=config.trust_code, judge=config.judge, size=config.grader_cache_size)
        self.fast: Any = None  # anyio.CapacityLimiter, made inside the event loop at startup
        self.slow: Any = None
        self.counts = {"requests": 0, "samples": 0, "errors": 0}

    # ------------------------------------------------------------------------------ plumbing

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.fast = anyio.CapacityLimiter(self.config.workers)
        self.slow = anyio.CapacityLimiter(self.config.workers)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(self.pool.close)

    def _authorize(self, request: Request) -> None:
        expected = self.config.api_key
        if expected is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise Reject(401, "missing or wrong API key: pass the server's token as api_key (sent as "
                              "'Authorization: Bearer <token>')", code="invalid_api_key")

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object in the body; 413 past the size limit, 400 if it is not a JSON object."""
        limit = self.config.max_body_bytes
        stream = request.stream()  # one iterator: a second request.stream() would find it consumed
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _drain(stream, limit * _DRAIN_FACTOR)
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                await _drain(stream, limit * _DRAIN_FACTOR)
                raise _too_large(size, limit)
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, RecursionError) as exc:
            raise Reject(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Reject(400, f"the request body must be a JSON object, got {type(body).__name__}")
        return body

    async def _grader(self, config: Any) -> Entry:
        if not isinstance(config, Mapping):
            raise Reject(400, "'grader' must be a grader config object such as "
                              "{'type': 'string_check', 'name': ..., 'input': ..., 'reference': ..., 'operation': ...}",
                         param="grader")
        entry = self.pool.cached(config)
        if entry is not None:
            return entry
        try:
            # Building compiles templates and may import libraries: off the event loop.
            return await anyio.to_thread.run_sync(self.pool.get, config)
        except UntrustedCodeError as exc:
            raise Reject(403, str(exc), param=_param(exc), code="untrusted_code", kind="permission_error") from None
        except ConfigError as exc:
            raise Reject(400, str(exc), param=_param(exc), code="invalid_grader") from None

    async def _grade(self, entry: Entry, samples: list[dict[str, Any]],
                     items: Sequence[Mapping[str, Any]]) -> tuple[list[Grade], float]:
        grader = entry.grader
        start = time.perf_counter()
        if not entry.slow:
            last = entry.last_seconds
            quick = last is not None and last < _INLINE_SECONDS
            if quick and sum(len(s["output_text"]) for s in samples) <= _INLINE_CHARS:
                grades = grader.grade_batch(samples, items)
            else:
                grades = await anyio.to_thread.run_sync(grader.grade_batch, samples, items, limiter=self.fast)
        elif grader.is_async:  # a judge: waits on the event loop, holding a slow-lane slot, not a thread
            async with self.slow:
                grades = await grader.agrade_batch(samples, items)
        else:  # a python grader: blocks a thread on its sandbox
            grades = await anyio.to_thread.run_sync(grader.grade_batch, samples, items, limiter=self.slow)
        seconds = time.perf_counter() - start
        entry.last_seconds = seconds
        self.counts["samples"] += len(samples)
        return grades, seconds

    # ------------------------------------------------------------------------------ handlers

    async def run(self, request: Request) -> JSONResponse:
        self._authorize(request)
        body = await self._body(request)
        model_sample = body.get("model_sample")
        if not isinstance(model_sample, str):
            raise Reject(400, f"'model_sample' must be the model's output as a string, got {_kind(model_sample)}",
                         param="model_sample")
        item = _item(body.get("item"), "item")
        entry = await self._grader(body.get("grader"))
        sample = served_sample(model_sample)
        grades, seconds = await self._grade(entry, [sample], [item])
        parse_error = sample["output_json"] is None and reads_output_json(body["grader"])
        return JSONResponse(run_response(entry.grader, grades[0], seconds=seconds, sample_parse_error=parse_error))

    async def validate(self, request: Request) -> JSONResponse:
        self._authorize(request)
        body = await self._body(request)
        await self._grader(body.get("grader"))
        return JSONResponse({"grader": body["grader"]})

    async def grade_many(self, request: Request) -> JSONResponse:
        self._authorize(request)
        body = await self._body(request)
        texts = body.get("samples")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise Reject(400, "'samples' must be a list of model outputs (strings)", param="samples")
        items_in = body.get("items")
        if items_in is None:
            items_in = [None] * len(texts)
        if not isinstance(items_in, list) or len(items_in) != len(texts):
            raise Reject(400, f"'items' must be a list with one row per sample ({len(texts)})", param="items")
        items = [_item(v, f"items.{i}") for i, v in enumerate(items_in)]
        entry = await self._grader(body.get("grader"))
        samples = [served_sample(t) for t in texts]
        grades, seconds = await self._grade(entry, samples, items)
        reads_json = reads_output_json(body["grader"])
        share = seconds / len(grades) if grades else 0.0
        data = [run_response(entry.grader, g, seconds=share, sample_parse_error=reads_json and s["output_json"] is None)
                for g, s in zip(grades, samples)]
        return JSONResponse({"object": "list", "data": data, "execution_time": seconds})

    async def stats(self, request: Request) -> JSONResponse:
        self._authorize(request)
        lanes = {name: {"busy": int(lane.borrowed_tokens), "waiting": lane.statistics().tasks_waiting,
                        "size": int(lane.total_tokens)}
                 for name, lane in (("fast", self.fast), ("slow", self.slow))}
        return JSONResponse({**self.counts, "graders_built": self.pool.built, "lanes": lanes})

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # ------------------------------------------------------------------------------ errors

    def _counted(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            self.counts["requests"] += 1
            try:
                return await handler(request)
            except Reject as exc:
                self.counts["errors"] += 1
                return exc.response()
            except Exception as exc:  # noqa: BLE001 - a bug: say so in OpenAI's shape, keep serving
                self.counts["errors"] += 1
                traceback.print_exc(file=sys.stderr)
                return Reject(500, f"internal error while grading: {type(exc).__name__}: {exc}",
                              kind="server_error").response()

        return endpoint

    def routes(self) -> list[Route]:
        post = ["POST"]
        return [
            Route("/v1/fine_tuning/alpha/graders/run", self._counted(self.run), methods=post),
            Route("/v1/fine_tuning/alpha/graders/validate", self._counted(self.validate), methods=post),
            Route("/v1/rft/grade", self._counted(self.grade_many), methods=post),
            Route("/v1/rft/stats", self._counted(self.stats), methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/health", self.health, methods=["GET"]),
        ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (f"no route {request.url.path}; this server has POST /v1/fine_tuning/alpha/graders/run, "
                   "POST /v1/fine_tuning/alpha/graders/validate and POST /v1/rft/grade")
    else:
        message = f"{request.method} is not allowed on {request.url.path}"
    return Reject(exc.status_code, message).response()


def create_app(config: ServeConfig | None = None) -> Starlette:
    """The ASGI app for ``config`` (its state is ``app.state.graders``, a :class:`GradersApp`).

    >>> app = create_app(ServeConfig(port=0))
    >>> sorted(r.path for r in app.routes)[:2]
    ['/health', '/v1/fine_tuning/alpha/graders/run']
    """
    graders = GradersApp(config or ServeConfig())
    app = Starlette(routes=graders.routes(), lifespan=graders.lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.graders = graders
    return app


# ---------------------------------------------------------------------------------------------


async def _drain(stream: AsyncIterator[bytes], budget: int) -> None:
    """Read and drop what is left of a body, up to ``budget`` bytes (bounded memory and time)."""
    seen = 0
    with contextlib.suppress(Exception):  # the client may hang up first: nothing to answer then
        async for chunk in stream:
            seen += len(chunk)
            if seen > budget:
                return


def _too_large(size: int, limit: int) -> Reject:
    return Reject(413, f"request body of {size} bytes is over this server's limit of {limit} bytes; send fewer "
                       "samples per call or start the server with a larger --max-body-mb",
                  code="request_too_large")


def _item(value: Any, param: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Reject(400, f"'{param}' must be the dataset row as a JSON object, got {_kind(value)}", param=param)
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"


def _param(exc: ConfigError) -> str:
    return f"grader.{exc.path}" if exc.path else "grader"
