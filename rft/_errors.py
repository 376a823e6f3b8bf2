"""The exceptions rft raises, in one small hierarchy.

::

    RftError
    ├── ConfigError (also ValueError)      a grader/suite/tune config is invalid: raised when it is built
    │   ├── UntrustedCodeError             a config carries code and trust_code was not given
    │   └── MissingDependencyError (also ImportError)
    │                                      an optional package is not installed; the message is the pip command
    ├── DataError (also ValueError)        a dataset row or file is malformed, or lacks a field a grader needs
    ├── GraderError (also RuntimeError)    a grader was used wrongly (e.g. a batch of the wrong length)
    └── SuiteFailed (also AssertionError)  a suite missed a threshold (rft.testing.assert_suite); message: its table

Grading a *completion* never raises: a bad output scores 0, and a grader that could not judge
returns an unscored :class:`~rft.Grade` (``score=None``) with the reason.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "DataError",
    "GraderError",
    "MissingDependencyError",
    "RftError",
    "SuiteFailed",
    "UntrustedCodeError",
]


class RftError(Exception):
    """Base class of every error rft raises on purpose."""


class ConfigError(RftError, ValueError):
    """A configuration is invalid.

    ``path`` locates the bad value inside the config (``"graders.email.operation"``) and is
    prefixed as errors travel up through nested configs, so the message always says where.
    """

    def __init__(self, message: str, path: str | None = None, *, source: str | None = None):
        self.message = message
        self.path = path or ""
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where += f"{self.source}: "
        if self.path:
            where += f"{self.path}: "
        return f"{where}{self.message}"

    def at(self, prefix: str | int) -> ConfigError:
        """Return this error with ``prefix`` prepended to its path."""
        prefix = str(prefix)
        self.path = f"{prefix}.{self.path}" if self.path else prefix
        self.args = (self._render(),)
        return self

    def in_source(self, source: str) -> ConfigError:
        """Return this error marked as coming from the file or catalogue entry ``source``."""
        if not self.source:
            self.source = source
            self.args = (self._render(),)
        return self

    def __str__(self) -> str:
        return self._render()


class UntrustedCodeError(ConfigError):
    """A config contains Python source and was loaded without ``trust_code=True``."""


# ConfigError.path (where in a config) and ImportError.path (a file) share a name; only the first is set.
class MissingDependencyError(ConfigError, ImportError):  # type: ignore[misc]
    """An optional package that this feature needs is not installed; the message says how to install it."""

    def __init__(self, message: str, *, module: str | None = None):
        super().__init__(message)
        self.name = module  # as ImportError.name: the missing top-level module


class DataError(RftError, ValueError):
    """A dataset file or row is malformed or lacks a field that a grader needs."""


class GraderError(RftError, RuntimeError):
    """A grader was used in a way that cannot work (wrong batch length, unknown field)."""


class SuiteFailed(RftError, AssertionError):
    """A suite missed a threshold; raised by :func:`rft.testing.assert_suite`.

    ``result`` is the :class:`~rft.eval.SuiteResult`; the message is its table (which grader
    missed which threshold, by how much). Also an ``AssertionError``, so pytest reports a failed
    test rather than an error.
    """

    def __init__(self, result: Any):
        self.result = result
        super().__init__(result.table())
