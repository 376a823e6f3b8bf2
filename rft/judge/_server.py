"""``rft serve-judge``: a local judge model behind the OpenAI chat-completions protocol.

Several training processes can then share one judge (one copy of the weights, one batching
queue) by pointing a ``{"type": "openai", "base_url": "http://127.0.0.1:PORT/v1"}`` backend at it.
Stdlib ``ThreadingHTTPServer``: one thread per connection, every thread hands its request to the
:class:`~rft.judge.LocalBackend` worker, which gathers concurrent requests into one batch.
It listens on loopback by default and has no authentication: do not expose it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rft.judge._backends import JudgeRequest, LocalBackend

__all__ = ["JudgeServer", "make_server"]

_MAX_BODY = 8 * 1024 * 1024


class JudgeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of concurrent connects (1 s SYN retries)

    def __init__(self, address: tuple[str, int], backend: LocalBackend, served_name: str):
        super().__init__(address, _Handler)
        self.backend = backend
        self.served_name = served_name
        self.stats = {"requests": 0, "completions": 0, "errors": 0}
        self.stats_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: JudgeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        with self.server.stats_lock:
            self.server.stats["errors"] += 1
        self._send(status, {"error": {"message": message, "type": kind, "code": None}})

    def do_GET(self) -> None:
        path = self.path.rstrip("/")
        if path in ("/v1/models", "/models"):
            model = {"id": self.server.served_name, "object": "model", "owned_by": "rft"}
            self._send(200, {"object": "list", "data": [model]})
        elif path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif path in ("/stats", "/v1/stats"):
            with self.server.stats_lock:
                self._send(200, dict(self.server.stats))
        else:
            self._error(404, f"no route {self.path}; use POST /v1/chat/completions")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}; use POST /v1/chat/completions")
            return
        with self.server.stats_lock:
            self.server.stats["requests"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > _MAX_BODY:
            why = f"request body of {length} bytes; send 1..{_MAX_BODY} bytes of JSON"
            self._error(400 if length <= 0 else 413, why)
            return
        try:
            body = json.loads(self.rfile.read(length))
            messages = body["messages"]
            pairs = tuple((str(m["role"]), _content(m["content"])) for m in messages)
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, f"expected {{'model', 'messages': [{{'role', 'content'}}]}}: {exc}")
            return
        if not pairs:
            self._error(400, "messages is empty")
            return
        keys = ("temperature", "top_p", "seed", "max_tokens", "max_completion_tokens")
        params = {k: body[k] for k in keys if body.get(k) is not None}
        if int(body.get("n") or 1) != 1:
            self._error(400, "only n=1 is supported")
            return
        request = JudgeRequest(pairs, str(body.get("model", self.server.served_name)), tuple(sorted(params.items())))
        reply = self.server.backend.submit(request).result()
        if reply.error is not None:
            self._error(500, reply.reason, "server_error")
            return
        with self.server.stats_lock:
            self.server.stats["completions"] += 1
        prompt_tokens = reply.prompt_tokens or 0
        completion_tokens = reply.completion_tokens or 0
        self._send(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.server.served_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    raise TypeError(f"message content must be text, got {type(content).__name__}")


def make_server(model: str = "default", *, host: str = "127.0.0.1", port: int = 0, batch_size: int = 16,
                max_new_tokens: int = 48, served_name: str | None = None,
                on_ready: Callable[[JudgeServer], None] | None = None) -> JudgeServer:
    """A ready (bound, model loaded) server; call ``serve_forever()`` on it.

    >>> server = make_server("tiny", max_new_tokens=4)
    >>> server.url.startswith("http://127.0.0.1:")
    True
    >>> server.server_close()
    """
    backend = LocalBackend(model, batch_size=batch_size, max_new_tokens=max_new_tokens)
    backend.load()  # fail before listening, not on the first request
    server = JudgeServer((host, port), backend, served_name or model)
    if on_ready is not None:
        on_ready(server)
    return server
