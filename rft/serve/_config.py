"""``ServeConfig``: the settings of one ``rft serve-graders`` process."""

from __future__ import annotations

import dataclasses
import ipaddress
import os

from rft._errors import ConfigError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServeConfig"]

#: Largest request body accepted (bytes); bigger bodies get HTTP 413.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclasses.dataclass
class ServeConfig:
    """How the graders server listens, whom it trusts and how much it grades at once.

    >>> ServeConfig(port=0).url_host
    '127.0.0.1'
    >>> ServeConfig(workers=0)
    Traceback (most recent call last):
    ...
    rft._errors.ConfigError: workers: expected a positive number of grading threads, got 0
    """

    host: str = dataclasses.field(default="127.0.0.1", metadata=_help("Address to listen on (loopback by default)."))
    port: int = dataclasses.field(default=8000, metadata=_help("Port; 0 picks a free one (the URL is printed)."))
    trust_code: bool = dataclasses.field(
        default=False,
        metadata=_help("Run python graders (in the sandbox) and accept configs that reach this machine's files, "
                       "environment or network (callable or URL judge backends, cache paths, model folders)."),
    )
    api_key: str | None = dataclasses.field(
        default=None, metadata=_help("Bearer token every request must carry (None: no authentication).")
    )
    workers: int = dataclasses.field(
        default=8,
        metadata=_help("Requests graded at once in each lane: fast checks in one, judges and python graders "
                       "in the other, so a slow judge never holds up a string check."),
    )
    max_body_bytes: int = dataclasses.field(
        default=DEFAULT_MAX_BODY_BYTES, metadata=_help("Largest request body; bigger ones get HTTP 413.")
    )
    judge: str = dataclasses.field(
        default="default",
        metadata=_help("Where judges without a backend of their own run: 'default' (the embedded "
                       "SmolLM2-135M-Instruct), 'tiny' (test model), a model folder, or the http(s) URL of an "
                       "OpenAI-compatible server (then the config's model name is sent as is)."),
    )
    grader_cache_size: int = dataclasses.field(
        default=128, metadata=_help("Built graders kept for reuse (python graders keep their sandbox workers).")
    )
    max_concurrency: int = dataclasses.field(
        default=512, metadata=_help("Open connections and requests at most; beyond it the server answers 503.")
    )

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"expected a positive number of grading threads, got {self.workers!r}", "workers")
        for name, low in (("max_body_bytes", 1024), ("grader_cache_size", 1), ("max_concurrency", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"expected an integer of at least {low}, got {value!r}", name)
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"expected a port from 0 to 65535, got {self.port!r}", "port")
        if self.api_key is not None and not self.api_key:
            raise ConfigError("the API key is empty; set the variable to a secret or drop --api-key-env", "api_key")
        if not isinstance(self.judge, str) or not self.judge:
            raise ConfigError(f"expected 'default', 'tiny', a model folder or a URL, got {self.judge!r}", "judge")

    @property
    def url_host(self) -> str:
        """The host as it goes in a URL (IPv6 addresses bracketed)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def loopback(self) -> bool:
        """True when only this machine can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @classmethod
    def api_key_from_env(cls, variable: str | None) -> str | None:
        """The token in environment variable ``variable`` (None when no variable is named)."""
        if variable is None:
            return None
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(
                f"--api-key-env names {variable!r}, which is unset or empty; export {variable}=<a secret token> "
                "first (clients then pass it as api_key=...)",
                "api_key_env",
            )
        return value
