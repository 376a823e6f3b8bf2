"""What a grader is, as data: for run fingerprints (resume) and report metadata.

:func:`grader_fingerprint` works for every grader, including Python graders around a lambda, a
closure or a function defined in a notebook cell or ``__main__``, which a config cannot hold. It
records what it can:

- the grader's config (``to_config()``), or, where that fails because the grader wraps a
  callable, the same fields with the callable left out;
- for every callable inside the grader (a python grader's ``fn``, a callable judge backend):
  its qualified name, a hash of its source where Python can find it, and a hash of its compiled
  code, defaults, closure values and the simple globals it reads (numbers, strings, other
  functions, recursively).

Editing such a function therefore changes the fingerprint, so a resumed run refuses to mix the
old grades in. What it cannot see: the state of objects the function reads through a global or
a closure (only their type is recorded), and code in modules the function calls.

>>> import rft
>>> g = rft.PythonGrader(name="g", fn=lambda sample, item: 1.0)
>>> sorted(grader_fingerprint(g))
['code', 'name', 'type']
>>> grader_fingerprint(rft.StringCheck(name="s", reference="x")) == rft.StringCheck(name="s", reference="x").to_config()
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import re
import types
from collections.abc import Mapping
from typing import Any

from rft._errors import RftError
from rft._template import Template
from rft.graders._base import Grader

__all__ = ["describe_callable", "grader_fingerprint"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PLAIN = (str, int, float, bool, type(None), bytes)
#: How deep helper functions called through globals are hashed.
_MAX_DEPTH = 3


def grader_fingerprint(grader: Grader) -> dict[str, Any]:
    """The grader as JSON-ready data: its config, plus ``code`` describing the callables inside.

    For a grader without callables this is exactly ``grader.to_config()``.
    """
    try:
        config = grader.to_config()
    except RftError:  # a python grader around a lambda/closure/notebook function
        config = _fields(grader)
    code: dict[str, Any] = {}
    _collect_callables(grader, "", code, set())
    if code:
        config = {**config, "code": code}
    return config


def _fields(grader: Grader) -> dict[str, Any]:
    """What ``to_config`` gives, without failing on callables: every config field, as data."""
    out: dict[str, Any] = {"type": grader.type, "name": grader.name}
    for f in dataclasses.fields(grader):
        if not f.init or f.name == "name" or f.metadata.get("config") is False:
            continue
        value = getattr(grader, f.name)
        if f.default is not dataclasses.MISSING and value == f.default and not f.metadata.get("always"):
            continue  # as to_config: defaults left out
        out[f.name] = _data(value)
    backend = getattr(grader, "backend", None)
    if backend is not None and "backend" not in out:
        out["backend"] = _data(backend)
    return out


def _data(value: Any) -> Any:
    if isinstance(value, Grader):
        try:
            return value.to_config()
        except RftError:
            return _fields(value)
    if isinstance(value, Template):
        return value.source
    if isinstance(value, Mapping):
        return {str(k): _data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    if isinstance(value, _PLAIN):
        return value
    to_config = getattr(value, "to_config", None)
    if callable(to_config):
        with contextlib.suppress(RftError):  # a backend that cannot describe itself: its name below
            return to_config()
    if callable(value):
        return _qualname(value)
    return _stable_repr(value)


def _is_code(value: Any) -> bool:
    """A user callable worth hashing (functions, methods, partials, callable instances)."""
    return callable(value) and not isinstance(value, (Grader, Template, type))


def _collect_callables(obj: Any, prefix: str, out: dict[str, Any], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Grader):
        names = [f.name for f in dataclasses.fields(obj) if f.init]
        if "backend" not in names and hasattr(obj, "backend"):
            names.append("backend")
        for name in names:
            _collect_value(getattr(obj, name, None), f"{prefix}{name}", out, seen)


def _collect_value(value: Any, path: str, out: dict[str, Any], seen: set[int]) -> None:
    if isinstance(value, Grader):
        _collect_callables(value, f"{path}.", out, seen)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _collect_value(v, f"{path}.{k}", out, seen)
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _collect_value(v, f"{path}.{k}", out, seen)
    elif isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
        out[path] = describe_callable(value)
    elif value is not None and not isinstance(value, (_PLAIN, Template)) and hasattr(value, "__dict__"):
        # An object held by the grader (a judge backend): the callables it holds, one level down.
        if _is_code(value) and not _is_library_object(value):
            out[path] = describe_callable(value)
            return
        for k, v in vars(value).items():
            if isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
                out[f"{path}.{k}"] = describe_callable(v)


def _is_library_object(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module == "rft" or module.startswith("rft.")


def describe_callable(fn: Any) -> dict[str, Any]:
    """``{"callable": "module:qualname", "source_sha256": ..., "code_sha256": ...}`` for ``fn``.

    ``source_sha256`` is present where :func:`inspect.getsource` finds the source (files,
    Jupyter cells); ``code_sha256`` covers the compiled code (not its line numbers), defaults,
    closure values and the plain globals and helper functions it reads.

    >>> a = describe_callable(lambda s, i: 1.0)
    >>> b = describe_callable(lambda s, i: 0.0)
    >>> a["callable"].endswith("<lambda>"), a["code_sha256"] != b["code_sha256"]
    (True, True)
    """
    out: dict[str, Any] = {"callable": _qualname(fn)}
    target = fn.func if isinstance(fn, functools.partial) else fn
    if not isinstance(target, (types.FunctionType, types.MethodType)) and not inspect.isroutine(target):
        target_src: Any = type(target)
    else:
        target_src = target
    try:
        source = inspect.getsource(target_src)
    except (OSError, TypeError):
        source = None
    if source is not None:
        out["source_sha256"] = hashlib.sha256(source.encode()).hexdigest()
    out["code_sha256"] = hashlib.sha256(json.dumps(_code_data(fn, _MAX_DEPTH), default=str).encode()).hexdigest()
    return out


def _qualname(fn: Any) -> str:
    target = fn.func if isinstance(fn, functools.partial) else fn
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{qualname}"


def _code_data(fn: Any, depth: int) -> Any:
    """What determines ``fn``'s behaviour, as data (line numbers and file names left out)."""
    if isinstance(fn, functools.partial):
        return {
            "partial": _code_data(fn.func, depth),
            "args": _value_data(fn.args, depth),
            "kwargs": _value_data(fn.keywords, depth),
        }
    if isinstance(fn, types.MethodType):
        return {"method": _code_data(fn.__func__, depth), "self": _value_data(fn.__self__, depth)}
    if isinstance(fn, types.FunctionType):
        code = fn.__code__
        closure = [c.cell_contents if _cell_filled(c) else None for c in (fn.__closure__ or ())]
        globals_read = {
            name: _value_data(fn.__globals__[name], depth - 1)
            for name in _names(code)
            if name in fn.__globals__
        }
        return {
            "code": _code_object(code),
            "defaults": _value_data(fn.__defaults__, depth),
            "kwdefaults": _value_data(fn.__kwdefaults__, depth),
            "closure": _value_data(closure, depth - 1),
            "globals": globals_read,
        }
    if callable(fn) and hasattr(fn, "__dict__"):  # a callable instance: its class's __call__ and its state
        call = next((c.__dict__["__call__"] for c in type(fn).__mro__ if "__call__" in c.__dict__), None)
        return {
            "class": _qualname(type(fn)),
            "call": _code_data(call, depth) if isinstance(call, types.FunctionType) else None,
            "state": _value_data(vars(fn), depth - 1),
        }
    return _stable_repr(fn)


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError when empty
    except ValueError:
        return False
    return True


def _names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _names(const)
    return sorted(set(names))


def _code_object(code: types.CodeType) -> Any:
    return {
        "bytecode": code.co_code.hex(),
        "consts": [_code_object(c) if isinstance(c, types.CodeType) else _stable_repr(c) for c in code.co_consts],
        "names": list(code.co_names),
        "varnames": list(code.co_varnames),
        "freevars": list(code.co_freevars),
    }


def _value_data(value: Any, depth: int) -> Any:
    if isinstance(value, _PLAIN):
        return value if not isinstance(value, bytes) else value.hex()
    if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
        return _code_data(value, depth) if depth > 0 else _qualname(value)
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, Mapping):
        return {str(k): _value_data(v, depth) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_value_data(v, depth) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Grader):
        return grader_fingerprint(value)
    return _stable_repr(value)


def _stable_repr(value: Any) -> str:
    """``repr`` without memory addresses (they change from one process to the next)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user object's repr may raise anything
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)[:2000]
