"""A scripted OpenAI-compatible server on loopback, for testing judge clients against faults.

Each chat-completions request takes the next *action* from a script (the last action repeats
once the script is used up):

- ``{"reply": "Score: 1"}`` — a normal completion (``"sleep": s`` delays it);
- ``{"status": 429, "retry_after": "0.2"}`` / ``{"status": 500}`` — an error, with an optional
  ``Retry-After`` header;
- ``{"hang": s}`` — send nothing for ``s`` seconds, then close;
- ``{"trickle": s, "reply": ...}`` — a normal completion whose body arrives a few bytes at a time
  over ``s`` seconds (no single read waits long: only a wall-clock bound per call stops it);
- ``{"garbage": true}`` — HTTP 200 with a body that is not JSON;
- ``{"reject_response_format": true, "reply": ...}`` — HTTP 400 to a request that carries a
  ``response_format`` (a server without structured output), else the reply;
- ``{"drop": true}`` — close the connection without a reply.

``requests`` counts what reached the server, ``bodies`` keeps each request's JSON body. Run it
in-process (:meth:`FaultServer.start`) or as a process: ``python -m rft.testing._fault_server
'<json script>'`` prints its URL on the first line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FaultServer"]


class FaultServer(ThreadingHTTPServer):
    """A loopback server replaying ``script``.

    >>> import openai
    >>> with FaultServer([{"reply": "Score: 7"}]).start() as server:
    ...     client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
    ...     reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    >>> reply.choices[0].message.content
    'Score: 7'
    """

    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of concurrent connects

    def __init__(self, script: list[dict[str, Any]] | None = None, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.script = list(script or [{"reply": "Score: 1"}])
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def next_action(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            index = min(self.requests, len(self.script) - 1)
            self.requests += 1
            self.bodies.append(body)
            return self.script[index]

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        data = json.dumps({"requests": self.server.requests}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        action = self.server.next_action(body)
        if "sleep" in action:
            time.sleep(float(action["sleep"]))
        if "hang" in action:
            time.sleep(float(action["hang"]))
            self.close_connection = True
            return
        if action.get("drop"):
            self.close_connection = True
            return
        if "trickle" in action:
            self._trickle(float(action["trickle"]), _completion(body, action))
            return
        if action.get("reject_response_format") and "response_format" in body:
            err = {"error": {"message": "response_format is not supported", "type": "invalid_request_error",
                             "param": "response_format", "code": None}}
            self._raw(400, json.dumps(err).encode(), "application/json")
            return
        if action.get("garbage"):
            self._raw(200, b"<html>definitely not json", "application/json")
            return
        status = int(action.get("status", 200))
        if status != 200:
            headers = {"Retry-After": str(action["retry_after"])} if "retry_after" in action else {}
            err = {"error": {"message": f"scripted {status}", "type": "server_error", "code": None}}
            self._raw(status, json.dumps(err).encode(), "application/json", headers)
            return
        self._raw(200, _completion(body, action), "application/json")

    def _trickle(self, seconds: float, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        steps = max(1, int(seconds / 0.1))
        size = max(1, -(-len(data) // steps))
        try:
            for start in range(0, len(data), size):
                self.wfile.write(data[start : start + size])
                self.wfile.flush()
                time.sleep(seconds / steps)
        except OSError:  # the client gave up (its wall-clock timeout): nothing more to send
            self.close_connection = True

    def _raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout or deadline): nothing more to send
            self.close_connection = True


def _completion(body: dict[str, Any], action: dict[str, Any]) -> bytes:
    reply = {
        "id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "m"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": action.get("reply", "Score: 1")},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    return json.dumps(reply).encode()


if __name__ == "__main__":  # pragma: no cover - exercised by the kill test as a subprocess
    server = FaultServer(json.loads(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(server.url, flush=True)
    server.serve_forever()
