"""The ``rft`` command line, one module per command.

:mod:`rft.cli` is the entry point (``rft = "rft.cli:main"``): it builds the parser from the modules
listed in ``rft.cli._COMMANDS``. Each module here defines ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` to a ``run(args) -> int``.
"""

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0  # success
EXIT_FAILED = 1  # the work ran but a bar was not met (a threshold, no signal, nothing measured)
EXIT_USAGE = 2  # usage, config or data error, or a missing optional package
