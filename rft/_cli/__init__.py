"""The ``rft`` command line, one module per command.

:mod:`rft.cli` is the entry point (``rft = "rft.cli:main"``): it builds the parser from the modules
listed in ``rft.cli._COMMANDS``. Each module here defines ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` to a ``run(args) -> int``.
"""
