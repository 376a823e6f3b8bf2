"""Judge backends: one small protocol, four implementations.

A backend turns a list of :class:`JudgeRequest` into one :class:`JudgeReply` each, asynchronously,
and never raises for a failed request: a reply carries either the judge's text or an ``error``
kind with the reason (the grader turns that into an *unscored* Grade).

- :class:`LocalBackend` — a local transformers model (the embedded default, or any model folder).
  One worker thread owns the model; concurrent requests from any thread or event loop are gathered
  into left-padded batches.
- :class:`OpenAIBackend` — any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp,
  OpenAI, ``rft serve-judge``) through the ``openai`` SDK, with bounded concurrency, retries with
  exponential backoff that honour ``Retry-After``, and wall-clock bounds per call and per batch.
- :class:`CallableBackend` — bring your own client: ``fn(messages, **params) -> str`` (sync or async).
- :class:`ScriptedBackend` — canned replies for tests; records every request it saw.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import email.utils
import importlib
import json
import os
import queue
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rft._errors import ConfigError, UntrustedCodeError
from rft.models import DEFAULT_MODEL, TINY_MODEL, generate, is_default_model_name, is_tiny_model_name, load_model

__all__ = [
    "Backend",
    "CallableBackend",
    "JudgeReply",
    "JudgeRequest",
    "LocalBackend",
    "OpenAIBackend",
    "ScriptedBackend",
    "backend_from_config",
]

#: Sampling parameters a judge config may set: every key of OpenAI's ``score_model``
#: ``sampling_params`` (``temperature``, ``top_p``, ``seed``, ``max_completions_tokens``,
#: ``reasoning_effort``; see ``openai.types.graders.score_model_grader.SamplingParams``) plus the
#: chat-completions spellings ``max_tokens`` and ``max_completion_tokens``, and ``response_format``.
SAMPLING_KEYS = frozenset(
    {"temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "max_completions_tokens",
     "reasoning_effort", "response_format"}
)
#: What the local transformers backend can honour; it ignores the other keys (with a note).
LOCAL_SAMPLING_KEYS = frozenset({"temperature", "top_p", "seed", "max_tokens", "max_completion_tokens",
                                 "max_completions_tokens"})


@dataclasses.dataclass(frozen=True)
class JudgeRequest:
    """One chat completion to ask of a judge.

    ``schema`` is the JSON schema (as JSON text) of a structured verdict: a backend that supports
    structured output may constrain the reply to it; the others ignore it.
    """

    messages: tuple[tuple[str, str], ...]
    model: str
    params: tuple[tuple[str, Any], ...] = ()
    schema: str = ""

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def max_tokens(self, default: int) -> int:
        p = self.param_dict()
        for key in ("max_completion_tokens", "max_completions_tokens", "max_tokens"):
            if isinstance(p.get(key), int) and p[key] > 0:
                return p[key]
        return default


@dataclasses.dataclass
class JudgeReply:
    """A judge's answer to one request: ``text``, or ``error`` (a kind) and ``reason``."""

    text: str | None = None
    error: str | None = None
    reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    attempts: int = 1
    cache_hit: bool = False

    @classmethod
    def failed(cls, error: str, reason: str, **kw: Any) -> JudgeReply:
        return cls(None, error, reason, **kw)


class Backend:
    """Protocol of a judge backend (subclass and implement :meth:`complete`)."""

    kind: ClassVar[str] = ""

    def identity(self) -> str:
        """What distinguishes this backend's answers in the cache (kind and endpoint or weights)."""
        return self.kind

    def ignored_params(self, params: Mapping[str, Any]) -> frozenset[str]:
        """The sampling parameters in ``params`` this backend cannot honour and will ignore."""
        return frozenset()

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        return {"type": self.kind}

    def __reduce__(self) -> tuple[Any, ...]:
        return (backend_from_config, (self.to_config(),))


# ------------------------------------------------------------------------------------------
# Local transformers model


class LocalBackend(Backend):
    """A local transformers model; requests from all threads are gathered into batches.

    ``model`` is ``"default"`` (the embedded SmolLM2-135M-Instruct), ``"tiny"`` (rft's random
    11k-parameter test model; plumbing only) or a local model folder.
    """

    kind = "local"

    def __init__(self, model: str = "default", *, batch_size: int = 16, max_new_tokens: int = 48,
                 gather_ms: float = 5.0):
        if not isinstance(model, str) or not model:
            raise ConfigError(f"expected a model name or folder, got {model!r}", "model")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"expected a positive integer, got {batch_size!r}", "backend.batch_size")
        self.model = model
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.gather_ms = gather_ms
        self._queue: queue.Queue[tuple[JudgeRequest, concurrent.futures.Future[JudgeReply]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loaded: tuple[Any, Any] | None = None
        self.batches_run = 0  # how many generate() calls the worker made (bench and tests read it)

    def identity(self) -> str:
        if is_default_model_name(self.model):
            return f"local:{DEFAULT_MODEL}"
        if is_tiny_model_name(self.model):
            return f"local:{TINY_MODEL}"
        return f"local:{Path(self.model).expanduser().resolve()}"

    def ignored_params(self, params: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(k for k, v in params.items() if v is not None and k not in LOCAL_SAMPLING_KEYS)

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"type": "local"}
        if self.batch_size != 16:
            config["batch_size"] = self.batch_size
        if self.max_new_tokens != 48:
            config["max_new_tokens"] = self.max_new_tokens
        return config

    def __reduce__(self) -> tuple[Any, ...]:
        return (_local, (self.model, self.batch_size, self.max_new_tokens))

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``."""
        with self._lock:
            if self._loaded is None:
                self._loaded = load_model(self.model)  # knows "default", "tiny" and folders
            return self._loaded

    def submit(self, request: JudgeRequest) -> concurrent.futures.Future[JudgeReply]:
        """Queue one request for the worker thread (thread-safe; used by ``rft serve-judge`` too)."""
        future: concurrent.futures.Future[JudgeReply] = concurrent.futures.Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="rft-local-judge", daemon=True)
                self._thread.start()
        self._queue.put((request, future))
        return future

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        futures = [asyncio.wrap_future(self.submit(r)) for r in requests]
        return list(await asyncio.gather(*futures))

    def _work(self) -> None:
        while True:
            items = [self._queue.get()]
            until = time.monotonic() + self.gather_ms / 1000
            while len(items) < self.batch_size:
                try:
                    items.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            self._run_batch(items)

    def _run_batch(self, items: list[tuple[JudgeRequest, concurrent.futures.Future[JudgeReply]]]) -> None:
        start = time.perf_counter()
        try:
            model, tokenizer = self.load()
            groups: dict[tuple[Any, ...], list[int]] = {}
            for i, (req, _) in enumerate(items):
                p = req.param_dict()
                key = (req.max_tokens(self.max_new_tokens), float(p.get("temperature") or 0.0),
                       float(p.get("top_p") or 1.0), p.get("seed"))
                groups.setdefault(key, []).append(i)
            replies: list[JudgeReply | None] = [None] * len(items)
            for (max_new, temperature, top_p, seed), idx in groups.items():
                prompts = [_prompt(tokenizer, items[i][0]) for i in idx]
                outs = generate(model, tokenizer, [p for p, _ in prompts], max_new_tokens=max_new,
                                temperature=temperature, top_p=top_p, batch_size=self.batch_size, seed=seed)
                self.batches_run += 1
                latency = time.perf_counter() - start
                for i, out, (prompt, prefill) in zip(idx, outs, prompts):
                    text = prefill + out[0]
                    replies[i] = JudgeReply(
                        text,
                        prompt_tokens=len(tokenizer(prompt, add_special_tokens=False)["input_ids"]),
                        completion_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]),
                        latency_s=latency,
                    )
            for (_, future), reply in zip(items, replies):
                future.set_result(reply)  # type: ignore[arg-type]
        except Exception as exc:  # the model failed to load or generate: every request here is unscored
            for _, future in items:
                if not future.done():
                    future.set_result(JudgeReply.failed(
                        "backend_error", f"local judge {self.model!r} failed: {type(exc).__name__}: {exc}",
                        latency_s=time.perf_counter() - start))


def _prompt(tokenizer: Any, request: JudgeRequest) -> tuple[str, str]:
    """The prompt text and the assistant prefill: a final assistant message is continued, not
    answered (the reply then starts with it), which lets a small model be led to ``Score:``."""
    messages = request.message_dicts()
    prefill = ""
    if len(messages) > 1 and messages[-1]["role"] == "assistant":
        prefill = messages.pop()["content"]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + prefill, prefill


# ------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP


_RETRYABLE = ("rate_limited", "server_error", "timeout", "unavailable")


class OpenAIBackend(Backend):
    """Any OpenAI-compatible chat-completions server, through the ``openai`` SDK.

    ``api_key`` is read from the environment variable named by ``api_key_env`` (a placeholder is
    sent when it is unset: local servers ignore it). At most ``concurrency`` requests are in flight;
    429 and 5xx replies, timeouts and refused connections are retried up to ``max_retries`` times
    with exponential backoff (``backoff_s * 2**attempt``, jittered, at most ``max_backoff_s``), or
    after the server's ``Retry-After`` when it sends one.

    Both time limits are wall-clock bounds. ``timeout_s`` bounds one call from sending to the last
    byte of the reply (not each socket read: a reply trickled in slowly still times out).
    ``deadline_s`` bounds a whole :meth:`complete` batch: waiting for a concurrency slot ends at
    the deadline, the time left is read after that wait, no request or retry is sent once it has
    passed, and a call in flight is cut at it. Rows never sent are unscored with error
    ``deadline``; a row whose last attempt failed keeps that attempt's error, with the deadline
    named in the reason.

    With ``structured_output`` (the default), a request that carries a verdict schema is sent with
    ``response_format={"type": "json_schema", ...}``, so a server that supports structured output
    returns ``{"steps": ..., "result": ...}`` and nothing else. A server that answers HTTP 400 to
    it is asked again without, and is never sent a ``response_format`` again by this backend (a
    server that ignores it returns text, which is parsed as text). Other sampling parameters,
    ``reasoning_effort`` included, are passed on as they are.
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        max_retries: int = 3,
        timeout_s: float = 60.0,
        deadline_s: float = 600.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        structured_output: bool = True,
    ):
        if not isinstance(structured_output, bool):
            raise ConfigError(f"expected true or false, got {structured_output!r}", "backend.structured_output")
        for name, value, least, kind in (
            ("concurrency", concurrency, 1, "positive"), ("max_retries", max_retries, 0, "non-negative")
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"expected a {kind} integer, got {value!r}", f"backend.{name}")
        seconds = {
            "timeout_s": timeout_s, "deadline_s": deadline_s, "backoff_s": backoff_s, "max_backoff_s": max_backoff_s
        }
        for name, number in seconds.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
                raise ConfigError(f"expected a non-negative number of seconds, got {number!r}", f"backend.{name}")
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigError(
                f"expected a URL such as 'http://127.0.0.1:8000/v1', got {base_url!r}", "backend.base_url"
            )
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = float(timeout_s)
        self.deadline_s = float(deadline_s)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.structured_output = structured_output
        # The SDK's HTTP pool and our semaphore belong to one event loop; keep one per loop.
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )
        self._no_response_format = False

    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "api_key_env": "OPENAI_API_KEY", "concurrency": 16, "max_retries": 3, "timeout_s": 60.0,
        "deadline_s": 600.0, "backoff_s": 0.5, "max_backoff_s": 30.0, "structured_output": True,
    }

    def _url(self) -> str:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def identity(self) -> str:
        return f"openai:{self._url().rstrip('/')}"

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"type": "openai"}
        if self.base_url is not None:
            config["base_url"] = self.base_url
        for key, default in self._DEFAULTS.items():
            if getattr(self, key) != default:
                config[key] = getattr(self, key)
        return config

    def _client(self) -> tuple[Any, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        found = self._per_loop.get(loop)
        if found is None:
            import openai

            client = openai.AsyncOpenAI(
                base_url=self._url(),
                api_key=os.environ.get(self.api_key_env) or "not-needed",
                max_retries=0,  # retries are ours: they honour Retry-After and the batch deadline
                timeout=self.timeout_s,
            )
            found = (client, asyncio.Semaphore(self.concurrency))
            self._per_loop[loop] = found
        return found

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        deadline = time.monotonic() + self.deadline_s
        client, semaphore = self._client()
        return list(await asyncio.gather(*(self._one(client, semaphore, r, deadline) for r in requests)))

    async def _one(self, client: Any, semaphore: asyncio.Semaphore, req: JudgeRequest, deadline: float) -> JudgeReply:
        start = time.perf_counter()
        attempt = 0
        last: JudgeReply | None = None
        while True:
            # The time left is read after the wait for a slot, and the wait itself ends at the
            # deadline: no request is sent once the batch deadline has passed.
            acquired = await _acquire_by(semaphore, deadline)
            remaining = deadline - time.monotonic()
            if not acquired or remaining <= 0:
                if acquired:
                    semaphore.release()
                return self._late(last, attempt, start)
            try:
                attempt += 1
                reply, retry_after = await self._call(client, req, remaining)
            finally:
                semaphore.release()
            if reply.error == "deadline" and last is not None:  # cut at the deadline: report why it retried
                return _final(last, attempt, start, f"; the retry was cut at the {self.deadline_s:g}s deadline")
            if reply.error is None or reply.error not in _RETRYABLE:
                reply.attempts = attempt
                reply.latency_s = time.perf_counter() - start
                return reply
            last = reply
            if attempt > self.max_retries:
                return _final(last, attempt, start, f" (after {attempt} attempts)")
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if retry_after is not None:
                delay = retry_after
                if retry_after > self.max_backoff_s:
                    why = f"; server asked to retry after {retry_after:g}s, over max_backoff_s"
                    return _final(last, attempt, start, why)
            if time.monotonic() + delay >= deadline:
                return _final(last, attempt, start, f"; no time left before the {self.deadline_s:g}s deadline")
            await asyncio.sleep(delay)

    def _late(self, last: JudgeReply | None, attempts: int, start: float) -> JudgeReply:
        if last is None:
            return JudgeReply.failed(
                "deadline", f"the batch deadline of {self.deadline_s:g}s passed before this request could be sent "
                "(raise backend.deadline_s or backend.concurrency)", attempts=attempts,
                latency_s=time.perf_counter() - start)
        return _final(last, attempts, start, f"; gave up at the {self.deadline_s:g}s deadline")

    def _params(self, req: JudgeRequest, plain: bool) -> dict[str, Any]:
        params = {k: v for k, v in req.params if v is not None}
        if "max_completions_tokens" in params:  # OpenAI grader-config spelling -> API spelling
            params.setdefault("max_completion_tokens", params.pop("max_completions_tokens"))
        if plain or self._no_response_format:
            params.pop("response_format", None)
        elif req.schema and self.structured_output and "response_format" not in params:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "strict": True, "schema": json.loads(req.schema)},
            }
        return params

    async def _call(self, client: Any, req: JudgeRequest, remaining: float,
                    plain: bool = False) -> tuple[JudgeReply, float | None]:
        """One HTTP call, bounded in wall-clock time by ``timeout_s`` and the time left to the
        deadline (the SDK's own timeout bounds each socket read, which a trickled reply evades).
        ``plain``: without ``response_format``."""
        import openai

        started = time.monotonic()
        budget = min(self.timeout_s, remaining)
        cut_by_deadline = remaining < self.timeout_s
        params = self._params(req, plain)
        try:
            async with asyncio.timeout(budget):
                resp = await client.chat.completions.create(
                    model=req.model, messages=req.message_dicts(), timeout=budget, **params
                )
        except (openai.APITimeoutError, TimeoutError):
            if cut_by_deadline:
                return JudgeReply.failed("deadline", f"no reply before the batch deadline of {self.deadline_s:g}s "
                                                     f"(the call was cut after {budget:.3g}s)"), None
            return JudgeReply.failed("timeout", f"no complete reply within timeout_s={self.timeout_s:g}s"), None
        except openai.APIConnectionError as exc:
            return JudgeReply.failed("unavailable", f"cannot reach {self._url()}: {exc.__cause__ or exc}"), None
        except openai.APIStatusError as exc:
            status = exc.status_code
            body = _short(getattr(exc, "message", "") or str(exc))
            if status == 429 or status >= 500:
                kind = "rate_limited" if status == 429 else "server_error"
                reply = JudgeReply.failed(kind, f"HTTP {status} from the judge server: {body}")
                return reply, _retry_after(exc.response)
            if status == 400 and "response_format" in params:
                # Maybe the server lacks structured output: ask again without. If that is answered,
                # it was the response_format: plain text from now on.
                reply, retry_after = await self._call(client, req, remaining - (time.monotonic() - started), plain=True)
                if reply.error is None:
                    self._no_response_format = True
                return reply, retry_after
            return JudgeReply.failed("http_error", f"HTTP {status} from the judge server: {body}"), None
        except openai.APIResponseValidationError as exc:
            why = f"the judge server sent an invalid response: {_short(str(exc))}"
            return JudgeReply.failed("bad_response", why), None
        except Exception as exc:  # the SDK could not make sense of the reply at all
            return JudgeReply.failed("bad_response", f"{type(exc).__name__}: {_short(str(exc))}"), None
        try:
            text = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            why = f"the judge server's reply has no choices: {_short(repr(resp))}"
            return JudgeReply.failed("bad_response", why), None
        if text is not None and not isinstance(text, str):
            return JudgeReply.failed("bad_response", f"message content is {type(text).__name__}, not text"), None
        usage = getattr(resp, "usage", None)
        return JudgeReply(
            text or "",
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        ), None


async def _acquire_by(semaphore: asyncio.Semaphore, deadline: float) -> bool:
    """Acquire ``semaphore`` unless the deadline passes first (then False, nothing held)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    try:
        async with asyncio.timeout(remaining):
            await semaphore.acquire()
    except TimeoutError:
        return False
    return True


def _final(last: JudgeReply, attempts: int, start: float, suffix: str) -> JudgeReply:
    return JudgeReply.failed(last.error or "deadline", last.reason + suffix, attempts=attempts,
                             latency_s=time.perf_counter() - start)


def _retry_after(response: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    value = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------------------------------
# Callable and scripted


class CallableBackend(Backend):
    """Your own client: ``fn(messages, **params)`` returns the reply text (or a dict with ``text``,
    ``prompt_tokens``, ``completion_tokens``). ``fn`` may be ``async``; a sync ``fn`` runs in a
    thread, at most ``concurrency`` at once. An exception it raises makes that request unscored.

    >>> import asyncio
    >>> b = CallableBackend(lambda messages, **p: "Score: 1")
    >>> asyncio.run(b.complete([JudgeRequest((("user", "hi"),), "m")]))[0].text
    'Score: 1'
    """

    kind = "callable"

    def __init__(self, fn: Callable[..., Any], *, concurrency: int = 8, name: str | None = None):
        if not callable(fn):
            raise ConfigError(f"expected a callable, got {fn!r}", "backend.function")
        self.fn = fn
        self.concurrency = concurrency
        self.name = name or f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.calls: list[JudgeRequest] = []

    def identity(self) -> str:
        return f"callable:{self.name}"

    def to_config(self) -> dict[str, Any]:
        return {"type": "callable", "function": self.name}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.fn,), {"concurrency": self.concurrency, "name": self.name})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.concurrency = state["concurrency"]
        self.name = state["name"]

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return list(await asyncio.gather(*(self._one(sem, r) for r in requests)))

    async def _one(self, sem: asyncio.Semaphore, req: JudgeRequest) -> JudgeReply:
        start = time.perf_counter()
        self.calls.append(req)
        try:
            async with sem:
                if asyncio.iscoroutinefunction(self.fn):
                    out = await self.fn(req.message_dicts(), **req.param_dict())
                else:
                    out = await asyncio.to_thread(self.fn, req.message_dicts(), **req.param_dict())
        except Exception as exc:
            return JudgeReply.failed("backend_error", f"judge function raised {type(exc).__name__}: {_short(str(exc))}",
                                     latency_s=time.perf_counter() - start)
        latency = time.perf_counter() - start
        if isinstance(out, Mapping):
            text = out.get("text")
            return JudgeReply(text if isinstance(text, str) else None,
                              None if isinstance(text, str) else "bad_response",
                              "" if isinstance(text, str) else f"judge function returned {_short(repr(out))}",
                              prompt_tokens=out.get("prompt_tokens"), completion_tokens=out.get("completion_tokens"),
                              latency_s=latency)
        if not isinstance(out, str):
            return JudgeReply.failed("bad_response", f"judge function returned {type(out).__name__}, not text",
                                     latency_s=latency)
        return JudgeReply(out, latency_s=latency)


class ScriptedBackend(CallableBackend):
    """Canned replies for tests: a list used in order (then repeated from the start), or a
    function of the last message's content. ``calls`` records every request.

    >>> import asyncio
    >>> b = ScriptedBackend(["Score: 1", "Score: 0"])
    >>> [r.text for r in asyncio.run(b.complete([JudgeRequest((("user", str(i)),), "m") for i in range(3)]))]
    ['Score: 1', 'Score: 0', 'Score: 1']
    """

    kind = "scripted"

    def __init__(self, replies: Sequence[str] | Callable[[str], str], *, name: str = "scripted"):
        self.replies = replies
        self._lock = threading.Lock()
        self._next = 0
        super().__init__(self._reply, name=name)

    def _reply(self, messages: list[dict[str, str]], **params: Any) -> str:
        if callable(self.replies):
            return self.replies(messages[-1]["content"])
        with self._lock:
            text = self.replies[self._next % len(self.replies)]
            self._next += 1
        return text

    def to_config(self) -> dict[str, Any]:
        return {"type": "scripted", "replies": self.replies if not callable(self.replies) else self.name}

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScriptedBackend, (self.replies,), None)


# ------------------------------------------------------------------------------------------
# From configs

_SHARED: dict[str, Backend] = {}
_SHARED_LOCK = threading.Lock()


def _local(model: str, batch_size: int = 16, max_new_tokens: int = 48) -> LocalBackend:
    key = json.dumps(["local", model, batch_size, max_new_tokens])
    with _SHARED_LOCK:
        backend = _SHARED.get(key)
        if backend is None:
            backend = _SHARED[key] = LocalBackend(model, batch_size=batch_size, max_new_tokens=max_new_tokens)
        return backend  # type: ignore[return-value]


def _looks_local(model: str) -> bool:
    if is_default_model_name(model) or is_tiny_model_name(model):
        return True
    return (Path(model).expanduser() / "config.json").is_file()


def backend_from_config(spec: Any, model: str = "default", *, trust_code: bool = False) -> Backend:
    """The backend a judge grader uses.

    ``spec`` is a :class:`Backend`, ``None`` (a local model when ``model`` is ``"default"`` or a
    local folder, else an OpenAI-compatible server at ``$OPENAI_BASE_URL``), or a dict with a
    ``type`` of ``local``, ``openai``, ``callable`` (``function: "module:name"``, needs
    ``trust_code``) or ``scripted`` (``replies``). Local backends are shared per process, so
    every grader on one model uses one copy of it and one batching queue.
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        if _looks_local(model):
            return _local(model)
        return OpenAIBackend()
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"expected a backend dict such as {{'type': 'openai', 'base_url': ...}}, got {spec!r}", "backend"
        )
    kind = spec.get("type")
    options = {k: v for k, v in spec.items() if k != "type"}
    try:
        if kind == "local":
            unknown = set(options) - {"batch_size", "max_new_tokens"}
            if unknown:
                raise ConfigError(
                    f"unknown option(s) {sorted(unknown)} for a local backend; known: batch_size, max_new_tokens",
                    "backend",
                )
            return _local(model, **options)
        if kind == "openai":
            return OpenAIBackend(**options)
        if kind == "scripted":
            return ScriptedBackend(options["replies"])
        if kind == "callable":
            if not trust_code:
                raise UntrustedCodeError(
                    "a callable backend imports and runs code; load with trust_code=True", "backend.function"
                )
            target = options.get("function", "")
            module, _, name = str(target).partition(":")
            try:
                fn = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError, ValueError):
                raise ConfigError(
                    f"cannot import {target!r}; write 'package.module:function'", "backend.function"
                ) from None
            return CallableBackend(fn, name=target)
    except TypeError as exc:
        raise ConfigError(f"bad option for a {kind!r} backend: {exc}", "backend") from None
    except KeyError as exc:
        raise ConfigError(f"a {kind!r} backend needs {exc}", "backend") from None
    raise ConfigError(f"unknown backend type {kind!r}; use local, openai, callable or scripted", "backend.type")
