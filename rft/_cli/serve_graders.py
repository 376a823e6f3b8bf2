"""``rft serve-graders``: OpenAI's fine-tuning graders API, served locally.

::

    rft serve-graders [--host 127.0.0.1] [--port 8000] [--trust-code] [--api-key-env VAR] [--workers N]

Point the official ``openai`` client at the printed URL (``OpenAI(base_url=URL, api_key=...)``) and
``client.fine_tuning.alpha.graders.run(...)`` / ``.validate(...)`` grade with rft.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rft._errors import ConfigError

__all__ = ["register", "run"]

_DESCRIPTION = """\
Serve OpenAI's graders API (POST /v1/fine_tuning/alpha/graders/run and .../validate) with rft's
graders, so code written against the official openai SDK runs unchanged apart from base_url.
rft extension: POST /v1/rft/grade grades many samples in one call.

The first line printed is the base URL (with --port 0, the port picked).

Safety: loopback only unless --host says otherwise. Without --trust-code, python graders and
configs that reach this machine's files, secrets or network (callable or URL judge backends,
cache paths, model folders) are refused with HTTP 403 and never run. With it, python graders run
in rft's sandbox. --api-key-env VAR makes every request carry the token in $VAR as its API key.
SIGTERM stops the server cleanly: requests in flight finish, sandbox workers stop.

exit status: 0 stopped by SIGTERM; 2 usage or config error (port in use, unset key variable);
130 Ctrl-C."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of MB, got {text!r}")
    return max(1024, int(value * 1024 * 1024))


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve-graders",
        help="serve OpenAI's graders API (run, validate) locally with rft's graders",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free port, printed)")
    p.add_argument("--trust-code", action="store_true",
                   help="run python graders (sandboxed) and accept configs reaching this machine's files, "
                        "secrets or network")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="require 'Authorization: Bearer $VAR' on every request (the client's api_key)")
    p.add_argument("--workers", type=_positive_int, default=8,
                   help="requests graded at once per lane (fast checks; judges and python graders) (default: 8)")
    p.add_argument("--judge", default="default", metavar="MODEL|URL",
                   help="where judges without a backend of their own run: 'default' (embedded SmolLM2-135M), "
                        "'tiny', a model folder, or an OpenAI-compatible server URL (default: default)")
    p.add_argument("--max-body-mb", type=_megabytes, default=8 * 1024 * 1024, metavar="MB",
                   help="largest request body; larger ones get HTTP 413 (default: 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:  # deferred: rft.serve imports starlette and uvicorn (the 'serve' extra)
        from rft.serve import ServeConfig, serve
    except ModuleNotFoundError as exc:
        raise ConfigError(f"rft serve-graders needs the package {exc.name!r}: pip install 'rft[serve]'") from None

    config = ServeConfig(
        host=args.host,
        port=args.port,
        trust_code=args.trust_code,
        api_key=ServeConfig.api_key_from_env(args.api_key_env),
        workers=args.workers,
        judge=args.judge,
        max_body_bytes=args.max_body_mb,
    )
    def announce(url: str) -> None:
        # The first stdout line is the base URL: scripts (and the tests) read it to find a port-0 server.
        print(f"rft serve-graders: listening on {url}", flush=True)
        if not config.loopback and config.api_key is None:
            print(f"rft serve-graders: warning: listening on {config.host} without --api-key-env: anyone who "
                  "can reach this port can run graders here", file=sys.stderr, flush=True)

    terminated = serve(config, on_ready=announce)
    print(f"rft serve-graders: stopped{' (SIGTERM)' if terminated else ''}", file=sys.stderr, flush=True)
    return 0
