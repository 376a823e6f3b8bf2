"""Grader types by name, and :func:`load_grader`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rft._catalogue import catalogue_path, list_catalogue, read_config_file
from rft._errors import ConfigError
from rft.graders._base import Grader

__all__ = [
    "CATALOGUE_META_KEYS",
    "build_grader",
    "grader_class",
    "grader_types",
    "load_grader",
    "register_grader",
]

#: Keys a grader file may carry beside the config itself (documentation, runnable examples).
CATALOGUE_META_KEYS = ("description", "examples")

#: Entry-point group through which installed packages contribute grader types.
ENTRY_POINT_GROUP = "rft.graders"

# Built-in types live in these modules; importing them registers the types. Imported on first
# use so that `import rft` stays light.
_BUILTIN_MODULES = (
    "rft.graders._string",
    "rft.graders._exact",
    "rft.graders._regex",
    "rft.graders._json_schema",
    "rft.graders._similarity",
    "rft.graders._python",
    "rft.graders._multi",
    "rft.graders._compose",
    "rft.graders._model",
)

_TYPES: dict[str, type[Grader]] = {}
_loaded_builtins = False
_loaded_entry_points = False

T = TypeVar("T", bound=type[Grader])


def register_grader(type_name: str, *, replace: bool = False) -> Callable[[T], T]:
    """Class decorator: make a :class:`Grader` subclass loadable from configs as ``type_name``.

    >>> import dataclasses, rft
    >>> @rft.register_grader("shout")
    ... @dataclasses.dataclass(kw_only=True, eq=True, repr=False)
    ... class Shout(rft.Grader):
    ...     def _evaluate(self, batch, rich):
    ...         return [1.0 if t.isupper() else 0.0 for t in batch.texts]
    >>> rft.load_grader({"type": "shout", "name": "loud"}).grade("HEY").score
    1.0
    """

    def decorate(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, Grader)):
            raise TypeError(f"@register_grader({type_name!r}) needs a Grader subclass, got {cls!r}")
        if type_name in _TYPES and _TYPES[type_name] is not cls and not replace:
            raise ConfigError(
                f"grader type {type_name!r} is already registered by {_TYPES[type_name].__qualname__}; "
                "pass replace=True to override it"
            )
        cls.type = type_name
        _TYPES[type_name] = cls
        return cls

    return decorate


def _load_builtins() -> None:
    global _loaded_builtins
    if _loaded_builtins:
        return
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not a module still to be written
                raise
    _loaded_builtins = True


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    from importlib.metadata import entry_points  # stdlib, but slow to import; entry points are rare

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _TYPES:
            continue
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Grader):
            register_grader(ep.name)(cls)


def grader_types() -> dict[str, type[Grader]]:
    """Every registered grader type: built-in, decorated, and from the ``rft.graders`` entry points."""
    _load_builtins()
    _load_entry_points()
    return dict(sorted(_TYPES.items()))


def grader_class(type_name: Any) -> type[Grader]:
    """The class registered as ``type_name``; a ConfigError listing the known types if none is."""
    if not isinstance(type_name, str):
        raise ConfigError(f"grader 'type' must be a string, got {type_name!r}", "type")
    _load_builtins()
    if type_name not in _TYPES:
        _load_entry_points()
    if type_name not in _TYPES:
        raise ConfigError(
            f"unknown grader type {type_name!r}; known types: {', '.join(sorted(_TYPES))} "
            f"(register your own with @rft.register_grader or the {ENTRY_POINT_GROUP!r} entry point)",
            "type",
        )
    return _TYPES[type_name]


def build_grader(config: Mapping[str, Any], *, trust_code: bool = False) -> Grader:
    """Build a grader from a config dict; errors carry the path of the bad field."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a grader config must be a mapping, got {type(config).__name__}: {config!r}")
    if "type" not in config:
        raise ConfigError(f"grader config has no 'type'; known types: {', '.join(grader_types())}")
    cls = grader_class(config["type"])
    body = {k: v for k, v in config.items() if k not in CATALOGUE_META_KEYS}
    return cls.from_config(body, trust_code=trust_code)


def load_grader(spec: Any, *, trust_code: bool = False) -> Grader:
    """Load a grader from a config dict, a YAML/JSON file, or a catalogue name.

    Configs use OpenAI's grader format (``string_check``, ``text_similarity``, ``python``,
    ``multi``, ``score_model``, ``label_model``) plus rft's types (``exact_match``, ``regex``,
    ``json_schema``, ...). Python ``source`` in a config runs only with ``trust_code=True``.

    >>> import rft
    >>> g = rft.load_grader({"type": "string_check", "name": "yes", "input": "{{sample.output_text}}",
    ...                      "reference": "yes", "operation": "eq"})
    >>> g.grade("yes").score
    1.0
    >>> rft.load_grader(g.to_config()) == g
    True
    """
    if isinstance(spec, Grader):
        return spec
    if isinstance(spec, Mapping):
        return build_grader(spec, trust_code=trust_code)
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        path = Path(text)
        looks_like_file = path.suffix in (".yaml", ".yml", ".json") or os.sep in text
        if path.is_file() or looks_like_file:
            if not path.is_file():
                raise ConfigError(f"grader file {text!r} does not exist")
            source = str(path)
        else:
            found = catalogue_path(text)
            if found is None:
                names = ", ".join(list_catalogue())
                raise ConfigError(
                    f"{text!r} is neither a grader file nor a catalogue grader; catalogue: {names}"
                )
            path, source = found, f"catalogue grader {text!r} ({found})"
        try:
            return build_grader(read_config_file(path), trust_code=trust_code)
        except ConfigError as exc:
            raise exc.in_source(source) from None
    raise ConfigError(
        f"cannot load a grader from {type(spec).__name__} {spec!r}; pass a dict, a file path or a catalogue name"
    )
