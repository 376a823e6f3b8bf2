"""Config files: reading YAML/JSON (:func:`read_config_file`), and the catalogue of ready-made
graders, files loadable by name.

This module sits below the grader registry: ``load_grader`` looks names up here, and nothing
here builds a grader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from rft._errors import ConfigError

__all__ = ["catalogue_dirs", "catalogue_entry", "catalogue_path", "list_catalogue", "read_config_file"]

_SUFFIXES = (".yaml", ".yml", ".json")


def catalogue_dirs() -> list[Path]:
    """Where catalogue graders are looked up, first match wins.

    ``RFT_GRADERS_PATH`` (``os.pathsep``-separated folders), then the catalogue shipped inside the
    wheel (``rft/_catalogue_files``), then ``graders/`` beside the package in a source checkout.
    """
    dirs = [Path(p) for p in os.environ.get("RFT_GRADERS_PATH", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    dirs += [here / "_catalogue_files", here.parent / "graders"]
    return [d for d in dirs if d.is_dir()]


def catalogue_path(name: str) -> Path | None:
    """The file of catalogue grader ``name``, or None."""
    for folder in catalogue_dirs():
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def list_catalogue() -> list[str]:
    """Names of every catalogue grader, sorted."""
    names: set[str] = set()
    for folder in catalogue_dirs():
        names.update(p.stem for p in folder.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith("_"))
    return sorted(names)


def catalogue_entry(name: str) -> dict[str, Any]:
    """The raw catalogue file of ``name``: the config plus ``description`` and ``examples``."""
    path = catalogue_path(name)
    if path is None:
        raise ConfigError(f"no catalogue grader named {name!r}; catalogue: {', '.join(list_catalogue())}")
    data = read_config_file(path)
    if not isinstance(data, dict):
        raise ConfigError("a catalogue file must hold a mapping", source=str(path))
    return data


def read_config_file(path: str | os.PathLike[str]) -> Any:
    """Read a YAML or JSON file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, Exception) as exc:  # yaml.YAMLError and json.JSONDecodeError
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"not valid {kind}: {exc}", source=str(path)) from None
