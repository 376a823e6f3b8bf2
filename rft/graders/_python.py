"""``python``: OpenAI's Python grader. Your ``grade(sample, item) -> float`` decides the score.

Two ways to give the function:

- ``fn=`` a Python callable (the Python API). It runs in-process: it is your own trusted code,
  and calling it costs nothing. A module-level function of an importable module is saved in
  configs as ``function: "module:qualname"``; other callables (lambdas, closures) cannot be
  written to a config.
- ``source=`` Python source defining ``grade`` (OpenAI's config format). It runs in sandboxed
  worker processes (:mod:`rft.graders._sandbox`): a wall-clock ``timeout`` per call, memory, CPU, file
  and process limits, a clean environment and a temporary directory, results over a private pipe.
  A config carrying ``source`` (or ``function``) loads only with ``trust_code=True``.

Either way the function is called as OpenAI calls it: ``sample`` is a dict with
``output_text``, ``output_json`` (the output parsed as strict JSON, else ``None``),
``output_tools`` and ``choices`` (lists, empty unless the caller had them), and ``item`` is the
dataset row as a dict. It returns a number: ``True``/``False`` count as 1/0; anything else
(``None``, ``"1.0"``, NaN, infinity) leaves the row unscored (``invalid_result``), as does a
score outside [0, 1]. An exception, a crash of the worker or a timeout leaves that row unscored
(``crash``/``timeout``) and the rest of the batch is graded.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from rft._errors import ConfigError, GraderError, UntrustedCodeError
from rft._grade import Grade
from rft._sample import Sample
from rft._template import Batch
from rft.graders._base import Grader, Result
from rft.graders._registry import register_grader
from rft.graders._sandbox import MAX_SOURCE_BYTES, Sandbox, defines_function

__all__ = ["PythonGrader"]

_SOURCE_NAME = "<python grader source>"


@register_grader("python")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class PythonGrader(Grader):
    """Score each sample with your own ``grade(sample, item) -> float``.

    >>> from rft import PythonGrader
    >>> def grade(sample, item):
    ...     return float(sample["output_text"].strip() == item["answer"])
    >>> g = PythonGrader(name="exact", fn=grade)
    >>> g.grade(" 42 ", {"answer": "42"}).score, g.grade("41", {"answer": "42"}).score
    (1.0, 0.0)

    The same function as OpenAI-style ``source`` runs sandboxed, in worker processes:

    >>> src = "def grade(sample, item):\\n    return float(sample['output_text'].strip() == item['answer'])"
    >>> with PythonGrader(name="exact", source=src, timeout=10) as g:
    ...     [x.score for x in g.grade_batch(["42", "7"], [{"answer": "42"}, {"answer": "42"}])]
    [1.0, 0.0]
    """

    source: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Python source defining grade(sample, item) -> float, run in sandboxed worker processes. "
            "Loading it from a config needs trust_code=True."
        },
    )
    function: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "'module:qualname' of an importable grade(sample, item) function, run in-process "
            "(trusted code; loading it from a config needs trust_code=True)."
        },
    )
    fn: Callable[[dict[str, Any], dict[str, Any]], Any] | None = dataclasses.field(
        default=None,
        metadata={"help": "A grade(sample, item) callable, run in-process (Python API only).", "config": False},
    )
    image_tag: str | None = dataclasses.field(
        default=None, metadata={"help": "OpenAI's sandbox image tag: accepted and kept in the config, not used."}
    )
    timeout: float = dataclasses.field(
        default=5.0,
        metadata={"help": "Seconds (wall clock) one source grade() call may take; then the row is unscored."},
    )
    memory_mb: int = dataclasses.field(
        default=2048, metadata={"help": "Address-space limit of each source worker process, in MB."}
    )
    workers: int | None = dataclasses.field(
        default=None, metadata={"help": "Source worker processes grading rows in parallel (default min(2, CPUs))."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._lock = threading.Lock()
        self._sandbox: Any = None
        self._warned = False
        given = [k for k in ("source", "function", "fn") if getattr(self, k) is not None]
        if not given:
            raise ConfigError(
                "a python grader needs its code: source (a string defining grade(sample, item)) "
                "or, in Python, fn=<callable>",
                "source",
            )
        if self.source is not None and len(given) > 1:
            raise ConfigError(f"pass either source or fn/function, not both (got {', '.join(given)})", "source")
        if self.source is not None:
            _check_source(self.source)
        if self.fn is not None:
            if not callable(self.fn):
                raise ConfigError(f"fn must be callable, got {type(self.fn).__name__} {self.fn!r}", "fn")
            ref = _import_ref(self.fn)
            if self.function is None:
                self.function = ref
            elif self.function != ref:
                raise ConfigError(
                    f"fn {self.fn!r} and function {self.function!r} name different callables; pass only one",
                    "function",
                )
        elif self.function is not None:
            self.fn = _resolve(self.function)
        if self.image_tag is not None and not isinstance(self.image_tag, str):
            raise ConfigError(f"expected a string, got {self.image_tag!r}", "image_tag")
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, (int, float))
            or not math.isfinite(self.timeout)
            or not 0 < self.timeout <= 3600
        ):
            raise ConfigError(f"expected seconds in (0, 3600], got {self.timeout!r}", "timeout")
        self.timeout = float(self.timeout)
        if isinstance(self.memory_mb, bool) or not isinstance(self.memory_mb, int) or self.memory_mb < 64:
            raise ConfigError(f"expected a whole number of MB, at least 64, got {self.memory_mb!r}", "memory_mb")
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 64
        ):
            raise ConfigError(f"expected a number of processes from 1 to 64, got {self.workers!r}", "workers")

    # ------------------------------------------------------------------------------ config

    @classmethod
    def _config_values(cls, values: dict[str, Any], *, trust_code: bool) -> dict[str, Any]:
        if "fn" in values:
            raise ConfigError(
                "fn cannot come from a config; write the code as source, or name an importable function "
                "as function: 'module:qualname'",
                "fn",
            )
        for key in ("source", "function"):
            if values.get(key) is not None and not trust_code:
                raise UntrustedCodeError(
                    f"this python grader carries code ({key}) that would run on this machine; read it, "
                    "then load the config with trust_code=True (rft.load_grader(..., trust_code=True), or "
                    "--trust-code on the command line)",
                    key,
                )
        return values

    def to_config(self) -> dict[str, Any]:
        if self.fn is not None and self.function is None:
            raise GraderError(
                f"python grader {self.name!r} wraps {self.fn!r}, which a config cannot hold: define it at module "
                "level in an importable module (it is then saved as function: 'module:qualname'), "
                "or give the code as source=..."
            )
        return super().to_config()

    def __repr__(self) -> str:
        if self.fn is not None and self.function is None:
            return f"PythonGrader(name={self.name!r}, fn={self.fn!r})"
        return super().__repr__()

    # ------------------------------------------------------------------------------ grading

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        rows = [i for i in range(batch.n) if i not in batch.fixed and i not in batch.unscored]
        out: list[Result] = [None] * batch.n
        if not rows:
            return out
        samples = [_sample_dict(batch.sample(i)) for i in rows]
        items = [_item_dict(batch.item(i)) for i in rows]
        if self.source is None:
            fn = self.fn
            assert fn is not None
            for i, sample, item in zip(rows, samples, items):
                try:
                    value = fn(sample, item)
                except Exception as exc:
                    out[i] = Grade.unscored_because(
                        f"grade raised {type(exc).__name__}: {exc}", error="crash", exception=type(exc).__name__
                    )
                    continue
                out[i] = _in_process_result(value, rich)
            return out
        outcomes = self._box().call_many(list(zip(samples, items)))
        for i, outcome in zip(rows, outcomes):
            if outcome.error is None:
                out[i] = Grade(outcome.value, reason=outcome.reason) if rich else outcome.value
            else:
                if not self._warned and "failed to load" in outcome.reason:
                    self._warned = True
                    warnings.warn(f"python grader {self.name!r}: {outcome.reason}", RuntimeWarning, stacklevel=4)
                out[i] = Grade.unscored_because(outcome.reason, error=outcome.error, **outcome.details)
        return out

    def _box(self) -> Any:
        with self._lock:
            if self._sandbox is None:
                assert self.source is not None
                self._sandbox = Sandbox(
                    self.source,
                    filename=_SOURCE_NAME,
                    timeout=self.timeout,
                    memory_mb=self.memory_mb,
                    workers=self.workers,
                )
            return self._sandbox

    def start(self) -> PythonGrader:
        """Start a source worker now; raise :class:`~rft.GraderError` if the source fails to load there."""
        if self.source is not None:
            try:
                self._box().start()
            except RuntimeError as exc:
                raise GraderError(f"python grader {self.name!r}: {exc}") from None
        return self

    def close(self) -> None:
        """Stop the source worker processes (they also stop when the grader is garbage-collected)."""
        with self._lock:
            box, self._sandbox = self._sandbox, None
        if box is not None:
            box.close()

    def __enter__(self) -> PythonGrader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_source(source: Any) -> None:
    if not isinstance(source, str):
        raise ConfigError(f"expected Python source as a string, got {type(source).__name__}", "source")
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise ConfigError(
            f"source is {size} bytes, over the 256 kB limit ({MAX_SOURCE_BYTES} bytes, as OpenAI); move helpers "
            "into an installed module and import it",
            "source",
        )
    try:
        tree = cast(ast.Module, compile(source, _SOURCE_NAME, "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise ConfigError(f"source does not compile{where}: {exc.msg}", "source") from None
    except ValueError as exc:  # null bytes
        raise ConfigError(f"source does not compile: {exc}", "source") from None
    if not defines_function(tree, "grade"):
        raise ConfigError(
            "source defines no top-level grade function; write `def grade(sample, item) -> float:`", "source"
        )


def _import_ref(fn: Any) -> str | None:
    """``"module:qualname"`` when importing that gives back ``fn`` itself, else None."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__" or "<" in qualname:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    return f"{module}:{qualname}" if obj is fn else None


def _resolve(ref: Any) -> Callable[..., Any]:
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ConfigError(f"expected 'module:qualname' (e.g. 'my_graders:grade'), got {ref!r}", "function")
    module, qualname = ref.split(":")
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:
        raise ConfigError(f"cannot import module {module!r}: {type(exc).__name__}: {exc}", "function") from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module!r} has no {qualname!r}", "function") from None
    if not callable(obj):
        raise ConfigError(f"{ref!r} is a {type(obj).__name__}, not a function", "function")
    return obj


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return {
        "output_text": sample.output_text,
        "output_json": sample.output_json,
        "output_tools": sample.output_tools if sample.output_tools is not None else [],
        "choices": sample.choices if sample.choices is not None else [],
    }


def _item_dict(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, Mapping) else {}


def _in_process_result(value: Any, rich: bool) -> Result:
    """Turn what an in-process ``fn`` returned into a score, or an unscored Grade saying why."""
    if isinstance(value, Grade):
        return value
    if isinstance(value, bool):
        return Grade(float(value), reason=f"grade returned {value}") if rich else float(value)
    number: float | None = None
    if isinstance(value, (int, float)) or (type(value).__module__ == "numpy" and hasattr(value, "item")):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number):
        try:
            plain = isinstance(value, (str, int, float)) or value is None
            shown = repr(value) if plain else f"a {type(value).__name__}"
        except ValueError:  # an int too long to print
            shown = f"a {type(value).__name__}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return Grade.unscored_because(
            f"grade returned {shown}, not a finite number", error="invalid_result", returned=type(value).__name__
        )
    return Grade(number, reason=f"grade returned {number!r}") if rich else number
