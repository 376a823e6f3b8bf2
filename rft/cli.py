"""The ``rft`` command line: ``rft grade``, ``rft validate``, ``rft graders``, ...

Each subcommand lives in its own module listed in :data:`_COMMANDS`; a module defines
``register(subparsers)``, which adds its parser and sets ``func`` to a ``run(args) -> int``.
Adding a command is a one-line edit of :data:`_COMMANDS`.

Exit codes: 0 success; 1 the work ran but a bar was not met: a threshold (``--min-score``,
``--min-pass-rate``, a suite's), a tune target or no reward signal, an exploitable grader in
``rft audit``, or ``rft grade`` measured nothing (a grader left every sample unscored; the reasons
are on stderr); 2 usage, config or data error, including a missing optional package (message on
stderr with the fix, no traceback).

>>> main(["graders", "--names"]) == 0  # doctest: +ELLIPSIS
answer_in_tags
...
True
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rft import __version__
from rft._cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from rft._deps import missing_dependency
from rft._errors import RftError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


#: Modules that each contribute subcommands through ``register(subparsers)``.
_COMMANDS: tuple[str, ...] = (
    "rft._cli.audit",
    "rft._cli.eval",
    "rft._cli.grade",
    "rft._cli.graders",
    "rft._cli.judge",
    "rft._cli.serve_graders",
    "rft._cli.tune",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rft",
        description="Grade, evaluate and tune language models with pluggable graders.",
    )
    parser.add_argument("--version", action="version", version=f"rft {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in _COMMANDS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), message already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except RftError as exc:
        print(f"rft {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # an optional package is missing where no require() named it first
        if (exc.name or "").split(".")[0] == "rft":
            raise  # a broken rft install or a bug: the traceback is the useful report
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            message = str(missing_dependency(exc.name, f"rft {args.command}"))
        else:
            message = f"a package failed to import ({exc}); reinstall with: pip install 'rft[all]'"
        print(f"rft {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rft graders | head`: the reader left; stay quiet, like SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"rft {args.command}: error:{name} {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"rft {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
