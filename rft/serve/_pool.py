"""Building served graders: what a request may ask of this machine, the default judge, reuse.

A grader config arrives from the network, so before :func:`rft.load_grader` sees it,
:meth:`GraderPool.get` refuses (with :class:`~rft.UntrustedCodeError`, HTTP 403) whatever would
reach beyond grading unless the server runs with ``--trust-code``:

- code: ``python`` graders (rft's loader refuses them itself: their source is never compiled,
  let alone run) and ``callable`` judge backends;
- the server's secrets and network: an ``openai`` judge backend naming a ``base_url`` or an
  ``api_key_env`` (the server would send its API key to a URL the client chose);
- the server's files: a judge ``cache`` path, or a ``local`` judge backend loading a model folder.

``python`` graders always run their ``source`` in rft's sandbox; ``function`` (code imported
into the server process) is refused even with ``--trust-code``.

Judges without a ``backend`` run on the server's judge (``--judge``: the embedded model by
default), whatever ``model`` they name: a config written for OpenAI names ``gpt-4o``. Built graders
are kept (least recently used out), so python graders keep their warm sandbox workers and judges
share one reply cache and one local model.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from rft._errors import ConfigError, UntrustedCodeError
from rft.graders._base import Grader
from rft.graders._registry import grader_types, load_grader
from rft.judge import LocalBackend, OpenAIBackend
from rft.models import is_default_model_name

__all__ = ["Entry", "GraderPool", "is_slow"]

# Keys of a grader config whose values are never grader configs (a JSON schema may say "type").
_NOT_GRADERS = frozenset({"backend", "sampling_params", "input", "schema", "labels", "passing_labels", "range"})
_TRUSTED_MODELS = frozenset({"default", "tiny"})


def is_slow(grader: Grader) -> bool:
    """True for graders that wait on something (a judge, a python sandbox): they get their own lane.

    >>> from rft import StringCheck
    >>> is_slow(StringCheck(input="{{sample.output_text}}", reference="a", operation="eq"))
    False
    """
    stack = [grader]
    while stack:
        node = stack.pop()
        if node.is_async or node.type == "python":
            return True
        stack.extend(node.children().values())
    return False


class Entry:
    """A built grader, its lane (``slow``), and how long its last grading call took (seconds)."""

    __slots__ = ("grader", "last_seconds", "slow")

    def __init__(self, grader: Grader):
        self.grader = grader
        self.slow = is_slow(grader)
        self.last_seconds: float | None = None


def _judge_types() -> frozenset[str]:
    """Registered grader types that call a judge model (they have a ``backend`` field)."""
    return frozenset(name for name, cls in grader_types().items()
                     if any(f.name == "backend" for f in dataclasses.fields(cls)))


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


class GraderPool:
    """Builds graders from request configs under the server's trust policy, and reuses them.

    >>> pool = GraderPool(trust_code=False, judge="tiny", size=4)
    >>> entry = pool.get({"type": "string_check", "name": "s", "input": "{{sample.output_text}}",
    ...                   "reference": "a", "operation": "eq"})
    >>> entry.grader.type, entry.slow, pool.cached(entry.grader.to_config()) is entry
    ('string_check', False, True)
    >>> pool.get({"type": "python", "name": "p", "source": "def grade(s, i): return 1"})
    Traceback (most recent call last):
    ...
    rft._errors.UntrustedCodeError: source: this python grader carries code (source) ...
    """

    def __init__(self, *, trust_code: bool, judge: str = "default", size: int = 128):
        self.trust_code = trust_code
        self.judge = judge
        self.size = size
        self._graders: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._backend: Any = None
        self.built = 0  # graders built (not reused); tests and stats read it

    # ------------------------------------------------------------------------------------------

    def default_backend(self) -> Any:
        """The judge backend for judges whose config names none (made once, shared by all)."""
        with self._lock:
            if self._backend is None:
                if self.judge.startswith(("http://", "https://")):
                    self._backend = OpenAIBackend(base_url=self.judge)
                else:
                    self._backend = LocalBackend(self.judge)
            return self._backend

    def cached(self, config: Any) -> Entry | None:
        """The entry already built for ``config``, else None (cheap: no building, no locks held long)."""
        key = _key(config)
        if key is None:
            return None
        with self._lock:
            entry = self._graders.get(key)
            if entry is not None:
                self._graders.move_to_end(key)
            return entry

    def get(self, config: Any) -> Entry:
        """The entry for ``config`` (a dict), built if needed; raises :class:`~rft.ConfigError`
        naming the bad field."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"expected a grader config object such as {{'type': 'string_check', ...}}, "
                              f"got {type(config).__name__}")
        entry = self.cached(config)
        if entry is not None:
            return entry
        grader = load_grader(self._prepare(config, "", _judge_types()), trust_code=self.trust_code)
        key = _key(config)
        assert key is not None
        evicted: list[Grader] = []
        with self._lock:
            entry = self._graders.get(key)
            if entry is not None:  # another request built it meanwhile: keep one, close ours
                evicted.append(grader)
            else:
                self.built += 1
                entry = self._graders[key] = Entry(grader)
                while len(self._graders) > self.size:
                    evicted.append(self._graders.popitem(last=False)[1].grader)
        for old in evicted:
            _close(old)
        return entry

    def close(self) -> None:
        """Stop every grader's workers (python sandboxes)."""
        with self._lock:
            entries, self._graders = list(self._graders.values()), OrderedDict()
        for entry in entries:
            _close(entry.grader)

    # ------------------------------------------------------------------------------------------

    def _prepare(self, config: Mapping[str, Any], path: str, judges: frozenset[str]) -> dict[str, Any]:
        """A copy of ``config`` checked against the trust policy, judges given the default backend."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key in _NOT_GRADERS or not isinstance(key, str):
                out[key] = value
            else:
                out[key] = self._prepare_value(value, _join(path, key), judges)
        kind = config.get("type")
        if kind == "python" and config.get("function") is not None:
            raise UntrustedCodeError(
                "a served python grader runs its source in the sandbox; 'function' would import code into the "
                "server process: send the code as source", _join(path, "function"))
        if kind in judges:
            self._check_judge(config, path)
            if config.get("backend") is None:
                out["backend"] = self.default_backend()
        return out

    def _prepare_value(self, value: Any, path: str, judges: frozenset[str]) -> Any:
        if isinstance(value, Mapping):
            if isinstance(value.get("type"), str):
                return self._prepare(value, path, judges)
            return {k: self._prepare_value(v, _join(path, k), judges) for k, v in value.items()}
        if isinstance(value, list):
            return [self._prepare_value(v, _join(path, i), judges) for i, v in enumerate(value)]
        return value

    def _check_judge(self, config: Mapping[str, Any], path: str) -> None:
        if self.trust_code:
            return
        fix = "; start the server with --trust-code to allow it, or drop the field to use the server's judge"
        cache = config.get("cache")
        if cache is not None and not isinstance(cache, bool):
            raise UntrustedCodeError(f"a judge cache path ({cache!r}) is a file on the server{fix}",
                                     _join(path, "cache"))
        backend = config.get("backend")
        if not isinstance(backend, Mapping):
            return
        for field in ("base_url", "api_key_env"):
            if backend.get(field) is not None and backend.get("type") == "openai":
                raise UntrustedCodeError(
                    f"a judge backend {field} would send the server's API key to a place the request chose{fix}",
                    _join(path, f"backend.{field}"))
        model = config.get("model", "default")
        if backend.get("type") == "local" and not (isinstance(model, str) and model.lower() in _TRUSTED_MODELS):
            if not is_default_model_name(model):
                raise UntrustedCodeError(f"a local judge would load the model folder {model!r} from the server{fix}",
                                         _join(path, "model"))


def _key(config: Any) -> str | None:
    """The cache key of a config: its canonical JSON (None when it is not JSON data)."""
    if not isinstance(config, Mapping):
        return None
    try:
        return json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _close(grader: Grader) -> None:
    stack = [grader]
    while stack:
        node = stack.pop()
        close = getattr(node, "close", None)
        if callable(close):  # python graders: stop their sandbox workers
            close()
        stack.extend(node.children().values())
