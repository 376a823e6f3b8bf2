"""Running the graders app: bind, announce the URL, serve with uvicorn, stop cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

from rft._errors import ConfigError
from rft.serve._app import create_app
from rft.serve._config import ServeConfig

__all__ = ["bind", "serve"]


def bind(config: ServeConfig) -> socket.socket:
    """A listening socket for ``config.host``/``config.port`` (port 0: a free port).

    Bound here rather than by uvicorn so the real port is known, and printed, before serving;
    connections that arrive meanwhile wait in the backlog.
    """
    try:
        infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve {config.host!r}: {exc.strerror}; use an address such as 127.0.0.1",
                          "host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}; pick another --port "
                          "(0 = any free port)", "port") from None
    sock.listen(2048)
    return sock


def serve(config: ServeConfig, *, on_ready: Callable[[str], None] | None = None) -> bool:
    """Serve until SIGTERM or Ctrl-C; return True when SIGTERM stopped it.

    In-flight requests finish (up to 30 s) and python graders' sandbox workers stop before this
    returns. ``on_ready`` receives the base URL (``http://HOST:PORT/v1``) once the socket listens.
    """
    import uvicorn

    sock = bind(config)
    port = sock.getsockname()[1]
    uv = uvicorn.Config(
        create_app(config),
        log_level="warning",
        access_log=False,
        lifespan="on",
        limit_concurrency=config.max_concurrency,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(uv)
    terminated: list[int] = []
    # uvicorn catches SIGTERM, shuts down gracefully, then re-raises the signal to the handler that
    # was in place before it: this one, which notes it, so the process can exit 0 after "stopped".
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    try:
        if on_ready is not None:
            on_ready(f"http://{config.url_host}:{port}/v1")
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    if not server.started and not terminated:
        raise ConfigError("the server failed to start (see the messages above)")
    return bool(terminated)
