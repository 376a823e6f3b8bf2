"""``rft serve-judge``: share one local judge model among processes over OpenAI's protocol."""

from __future__ import annotations

import argparse
import sys

from rft.judge._server import make_server

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve-judge",
        help="serve a local judge model through the OpenAI chat-completions protocol",
        description=(
            "Serve a local model (the embedded default, 'tiny', or a model folder) at "
            "http://HOST:PORT/v1/chat/completions. Point judge graders at it with "
            "backend: {type: openai, base_url: http://HOST:PORT/v1}. No authentication: keep it on loopback."
        ),
    )
    p.add_argument(
        "--model", default="default", help="'default' (SmolLM2-135M-Instruct), 'tiny' (test model) or a model folder"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port; the URL is printed)")
    p.add_argument("--batch-size", type=int, default=16, help="most requests generated together")
    p.add_argument("--max-new-tokens", type=int, default=48, help="reply length when a request sets none")
    p.add_argument("--served-name", default=None, help="model name reported by /v1/models (default: --model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    server = make_server(args.model, host=args.host, port=args.port, batch_size=args.batch_size,
                         max_new_tokens=args.max_new_tokens, served_name=args.served_name)
    # The first stdout line is the base URL: scripts (and our tests) read it to find a port-0 server.
    print(f"rft serve-judge: listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("rft serve-judge: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
